# train: one job per (model, fold, seed), and per context C for CSA, from every session's manifest
# and features to the run's weights, history, predictions, metrics and (BLSTMATT) attention
# weights. A killed job (Slurm time limit, preemption, Ctrl-C) resumes from its checkpoint.pt when
# rerun (`snakemake --rerun-incomplete`); one killed after training rewrites its outputs from the
# finished checkpoint without retraining. Run folders are documented in docs/outputs.md ("train").

rule train_blstmatt:
    input:
        manifests=[layout.corpus_table(session) for session in SESSIONS],
        features=[layout.features_file(session) for session in SESSIONS],
        stats=[layout.features_stats(session) for session in SESSIONS],
        speed_features=speed_feature_files(),
        speed_stats=speed_feature_files("stats"),
        hparams=hparam_choice,
    output:
        **layout.run_outputs("blstmatt", "{fold}", "{seed}"),
    log:
        log_path("train_blstmatt", "{fold}/seed{seed}"),
    benchmark:
        benchmark_path("train_blstmatt", "{fold}/seed{seed}")
    params:
        model="blstmatt",
        settings=run_settings("blstmatt"),
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime"],
        gpu=config["train"]["gpus"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"


# The sweep fans out here: one CSA job per context in csa.contexts (x folds x seeds).
use rule train_blstmatt as train_csa with:
    output:
        **layout.run_outputs("csa", "{fold}", "{seed}", "{context}"),
    log:
        log_path("train_csa", "C{context}/{fold}/seed{seed}"),
    benchmark:
        benchmark_path("train_csa", "C{context}/{fold}/seed{seed}")
    params:
        model="csa",
        settings=run_settings("csa"),


STAGE_TARGETS["train"] = run_files("metrics", [*BLSTMATT_RUNS, *CSA_RUNS])
