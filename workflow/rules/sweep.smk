# sweep: the CSA context-length sweep table. The per-context CSA training jobs (one per context,
# fold and seed, in train.smk) run in parallel; this job only collects their predictions into one
# table (context, fold, seed, WA/UA/macro-F1 with CIs, utterances kept / left out) and a summary.
rule sweep_table:
    input:
        test_predictions=csa_run_files("predictions"),
        val_predictions=csa_run_files("val_predictions"),
        metrics=csa_run_files("metrics"),
    output:
        sweep=f"{RESULTS}/sweep/sweep.parquet",
        summary=f"{RESULTS}/sweep/sweep_summary.parquet",
    log:
        log_path("sweep_table"),
    benchmark:
        benchmark_path("sweep_table")
    params:
        runs=CSA_RUNS,
        classes=CLASSES,
        bootstrap=config["fusion"]["bootstrap"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/sweep.py"


STAGE_TARGETS["sweep"] = [
    f"{RESULTS}/sweep/sweep.parquet",
    f"{RESULTS}/sweep/sweep_summary.parquet",
]
