# Helpers shared by all stages: config validation, wildcard constraints, input functions and the
# per-stage target lists used by the target rules in the Snakefile.
import os
import re
import itertools
import sys

from snakemake.utils import min_version, validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The emocue library (workflow/emocue) is importable without `pip install`: from this Snakefile
# (also under a snakemake installed outside .venv, e.g. on an HPC login node) and, with
# `--sdm conda`, from the rule scripts in the envs/*.yaml environments (which lack emocue), as
# jobs inherit PYTHONPATH (Slurm jobs too: sbatch exports the environment).
EMOCUE_LIBRARY_DIR = os.path.join(workflow.basedir, "workflow")
if EMOCUE_LIBRARY_DIR not in sys.path:
    sys.path.insert(0, EMOCUE_LIBRARY_DIR)
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ.update(  # set, not required, so no `envvars:` directive
        PYTHONPATH=os.pathsep.join([EMOCUE_LIBRARY_DIR, *filter(None, [os.environ.get("PYTHONPATH")])])
    )

from emocue import config as emocue_config

min_version("9.0")


# ---- configuration ------------------------------------------------------------------------------
# Schema first (names the offending key, fills defaults), then the checks a schema cannot express.
validate(config, schema="../schemas/config.schema.yaml")
emocue_config.check_config(config)

RESULTS = "results"
SESSIONS = list(config["corpus"]["sessions"])
CLASSES = list(config["corpus"]["classes"])
FOLDS = emocue_config.test_sessions(config)  # a fold is named after its test session
SEEDS = [int(seed) for seed in config["train"]["seeds"]]
CONTEXTS = [int(context) for context in config["csa"]["contexts"]]


def session_pattern(names):
    return "|".join(re.escape(name) for name in names)


# Each stage's .smk appends the files its target rule (`snakemake <stage>`) builds.
STAGE_TARGETS = {}


def log_path(rule_name, pattern=""):
    """results/logs/<rule>/<wildcards>.log — one log per job."""
    return f"{RESULTS}/logs/{rule_name}/{pattern or 'all'}.log"


def benchmark_path(rule_name, pattern=""):
    """results/benchmarks/<rule>/<wildcards>.tsv — Snakemake's per-job resource usage."""
    return f"{RESULTS}/benchmarks/{rule_name}/{pattern or 'all'}.tsv"


def all_targets():
    return [target for targets in STAGE_TARGETS.values() for target in targets]


# ---- training run folders: train.smk writes them; sweep, fusion and attention read them ---------
# Output files of a run folder (emocue.train.OUTPUT_FILES; the rule script checks they agree —
# importing emocue.train here would load torch at every Snakemake start-up).
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


# Every CSA run of the context sweep (one per context, fold and seed).
CSA_RUNS = [
    {"context": context, "fold": fold, "seed": seed}
    for context, fold, seed in itertools.product(CONTEXTS, FOLDS, SEEDS)
]


def csa_run_files(name):
    """`name` (a RUN_FILES key) of every CSA run, in CSA_RUNS order."""
    return [f"{csa_run_dir(**run)}/{RUN_FILES[name]}" for run in CSA_RUNS]


# Per fold and seed: the BLSTMATT run and every CSA context run that fusion combines.
FUSION_RUNS = [
    {
        "fold": fold,
        "seed": seed,
        "blstmatt_dir": blstmatt_run_dir(fold, seed),
        "csa_dirs": {context: csa_run_dir(context, fold, seed) for context in CONTEXTS},
    }
    for fold in FOLDS
    for seed in SEEDS
]


def fusion_run_files(name):
    """`name` (a RUN_FILES key) of every run that fusion combines: BLSTMATT and each CSA context."""
    blstmatt = [f"{blstmatt_run_dir(fold, seed)}/{RUN_FILES[name]}" for fold in FOLDS for seed in SEEDS]
    return blstmatt + csa_run_files(name)


def blstmatt_fold_files(name):
    """`name` in the BLSTMATT run folder of every fold, for the job's {seed}."""
    return expand(f"{blstmatt_run_dir('{fold}', '{{seed}}')}/{RUN_FILES[name]}", fold=FOLDS)
