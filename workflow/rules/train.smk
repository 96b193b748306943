# train: one job per (model, fold, seed), and per context C for CSA, from every session's manifest
# and features to the run's weights, history, predictions, metrics and (BLSTMATT) attention
# weights. A killed job (Slurm time limit, preemption, Ctrl-C) resumes from its checkpoint.pt when
# rerun (`snakemake --rerun-incomplete`). Run folders are documented in docs/outputs.md ("train").

# Output files of a run folder (emocue.train.OUTPUT_FILES; the rule script checks they agree).
RUN_FILES = {
    "model": "model.pt",
    "history": "history.parquet",
    "predictions": "predictions.parquet",
    "val_predictions": "val_predictions.parquet",
    "metrics": "metrics.json",
    "attention": "attention.parquet",
    "chunk_predictions": "chunk_predictions.parquet",
}


def blstmatt_run_dir(fold, seed):
    return f"{RESULTS}/train/blstmatt/{fold}/seed{seed}"


def csa_run_dir(context, fold, seed):
    return f"{RESULTS}/train/csa/C{context}/{fold}/seed{seed}"


def run_outputs(run_dir, model_specific):
    """The named output files of one run folder (model-independent ones + `model_specific`)."""
    names = ["model", "history", "predictions", "val_predictions", "metrics", model_specific]
    return {name: f"{run_dir}/{RUN_FILES[name]}" for name in names}


def run_settings(model):
    """The settings a run's results depend on. As params they make Snakemake rerun exactly the jobs
    of a model whose settings changed; Slurm-only keys and the lists that fan out into separate jobs
    (seeds, CSA contexts) are left out, so changing those reruns nothing that exists."""
    not_results = {"threads", "gpus", "mem_mb", "runtime", "seeds", "contexts"}
    return {
        section: {key: value for key, value in config[section].items() if key not in not_results}
        for section in (model, "train", "split")
    } | {"normalisation": config["features"]["normalisation"], "classes": CLASSES}


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
