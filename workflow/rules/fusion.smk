# fusion: BLSTMATT + CSA log-linear fusion (SYSComb) per fold and seed, with the CSA context and the
# weight chosen on validation, significance of every system pair, and the paper's Table 1.
# Needs sweep.smk (the sweep table) included first.

FUSION_OUTPUTS = {
    "selection": f"{RESULTS}/fusion/selection.parquet",
    "weight_curve": f"{RESULTS}/fusion/weight_curve.parquet",
    "weight_curve_chart": f"{RESULTS}/fusion/weight_curve.vl.json",
    "systems": f"{RESULTS}/fusion/systems.parquet",
    "significance": f"{RESULTS}/fusion/significance.parquet",
    "significance_summary": f"{RESULTS}/fusion/significance_summary.parquet",
    "predictions": f"{RESULTS}/fusion/predictions.parquet",
    "table1": f"{RESULTS}/fusion/table1.parquet",
    "table1_markdown": f"{RESULTS}/fusion/table1.md",
    "table1_html": report(f"{RESULTS}/fusion/table1.html", category="Table 1"),  # snakemake --report
}


rule fuse_systems:
    input:
        sweep=rules.sweep_table.output.sweep,
        test_predictions=fusion_run_files("predictions"),
        val_predictions=fusion_run_files("val_predictions"),
    output:
        **FUSION_OUTPUTS,
    log:
        log_path("fuse_systems"),
    benchmark:
        benchmark_path("fuse_systems")
    params:
        runs=FUSION_RUNS,
        classes=CLASSES,
        settings=config["fusion"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/fusion.py"


STAGE_TARGETS["fusion"] = list(FUSION_OUTPUTS.values())
