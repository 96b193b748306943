# fusion: BLSTMATT + CSA log-linear fusion (SYSComb) per fold and seed, with the CSA context and the
# weight chosen on validation, then each system of fusion.systems (a baseline) fused onto SYSComb.
# Its test predictions (SYSComb, SYSComb-w<paper weight>, SYSComb+<system>) are scored by the score
# stage like every other system's and compared by the significance stage. It reads no `evaluation`
# key, so scoring settings never rerun it.

# Per fold and seed: the BLSTMATT run and every CSA context run that fusion combines.
FUSION_RUNS = [
    {
        "fold": fold,
        "seed": seed,
        "blstmatt_dir": layout.run_dir("blstmatt", fold, seed),
        "csa_dirs": {context: layout.run_dir("csa", fold, seed, context) for context in CONTEXTS},
        "others": {system: other_predictions(system, fold, seed) for system in BASELINE_RUNS},
    }
    for fold in FOLDS
    for seed in SEEDS
]
FUSION_OUTPUTS = layout.stage_outputs(layout.FUSION_OUTPUTS)


rule fuse_systems:
    input:
        test_predictions=run_files("predictions", [*BLSTMATT_RUNS, *CSA_RUNS]),
        val_predictions=run_files("val_predictions", [*BLSTMATT_RUNS, *CSA_RUNS]),
        others=[path for system in BASELINE_RUNS for name in ("val_predictions", "predictions")
                for path in baseline_run_files(name, system)],
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
