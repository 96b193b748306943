# train: one job per (model, fold, seed), and per context C for CSA, from every session's manifest
# and features to the run's weights, history, predictions, metrics and (BLSTMATT) attention
# weights. A killed job (Slurm time limit, preemption, Ctrl-C) resumes from its checkpoint.pt when
# rerun (`snakemake --rerun-incomplete`). Run folders are documented in docs/outputs.md ("train").

rule train_blstmatt:
    input:
        manifests=expand(f"{RESULTS}/corpus/{{session}}.parquet", session=SESSIONS),
        features=expand(f"{RESULTS}/features/{{session}}.npz", session=SESSIONS),
        stats=expand(f"{RESULTS}/features/{{session}}.stats.parquet", session=SESSIONS),
    output:
        **run_outputs(blstmatt_run_dir("{fold}", "{seed}"), "attention"),
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
        **run_outputs(csa_run_dir("{context}", "{fold}", "{seed}"), "chunk_predictions"),
    log:
        log_path("train_csa", "C{context}/{fold}/seed{seed}"),
    benchmark:
        benchmark_path("train_csa", "C{context}/{fold}/seed{seed}")
    params:
        model="csa",
        settings=run_settings("csa"),


STAGE_TARGETS["train"] = [
    *(f"{blstmatt_run_dir(fold, seed)}/{RUN_FILES['metrics']}" for fold in FOLDS for seed in SEEDS),
    *(
        f"{csa_run_dir(context, fold, seed)}/{RUN_FILES['metrics']}"
        for context in CONTEXTS
        for fold in FOLDS
        for seed in SEEDS
    ),
]
