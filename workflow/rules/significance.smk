# significance: per fold and seed, and per seed with its folds pooled, every pair of systems (CSA
# vs BLSTMATT, each SYSComb vs both, each baseline vs BLSTMATT, CSA and SYSComb, each
# SYSComb+<baseline> vs its parts) compared on the same test utterances: paired-bootstrap CIs of the WA / UA differences and McNemar's exact test
# (emocue.significance). It reads test predictions only, and its resamples come from `evaluation`,
# so changing a scoring setting reruns it and never fusion. Needs fusion.smk included first.
SIGNIFICANCE_OUTPUTS = layout.stage_outputs(layout.SIGNIFICANCE_OUTPUTS)


rule compare_systems:
    input:
        test_predictions=run_files("predictions", [*BLSTMATT_RUNS, *CSA_RUNS]),
        others=[path for system in BASELINE_RUNS for path in baseline_run_files("predictions", system)],
        selection=FUSION_OUTPUTS["selection"],
        fused=FUSION_OUTPUTS["predictions"],
    output:
        **SIGNIFICANCE_OUTPUTS,
    log:
        log_path("compare_systems"),
    benchmark:
        benchmark_path("compare_systems")
    params:
        runs=FUSION_RUNS,
        classes=CLASSES,
        evaluation=config["evaluation"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/significance.py"


STAGE_TARGETS["significance"] = list(SIGNIFICANCE_OUTPUTS.values())
