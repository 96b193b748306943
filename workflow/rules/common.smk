# Helpers shared by all stages: config validation, wildcard constraints, input functions and the
# per-stage target lists used by the target rules in the Snakefile.
import os
import re
import sys

from snakemake.utils import min_version, validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The emocue library (workflow/emocue) is importable without `pip install`: from this Snakefile
# (also under a snakemake installed outside .venv, e.g. on an HPC login node) and, with
# `--sdm conda`, from rule scripts in the envs/*.yaml environments, which do not contain emocue:
# jobs inherit PYTHONPATH (Slurm jobs too, sbatch exports the environment).
EMOCUE_LIBRARY_DIR = os.path.join(workflow.basedir, "workflow")
if EMOCUE_LIBRARY_DIR not in sys.path:
    sys.path.insert(0, EMOCUE_LIBRARY_DIR)
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [EMOCUE_LIBRARY_DIR, *filter(None, [os.environ.get("PYTHONPATH")])]
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


wildcard_constraints:
    session=session_pattern(SESSIONS),
    fold=session_pattern(FOLDS),
    seed=r"\d+",
    context=r"\d+",


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
