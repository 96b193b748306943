# Helpers shared by all stages: config validation, wildcard constraints, input functions and the
# per-stage target lists used by the target rules in the Snakefile.
import glob
import os
import re
import itertools
import sys

from snakemake.utils import min_version
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

from snakemake.logging import logger

from emocue import config as emocue_config
from emocue import corpus as emocue_corpus
from emocue import layout
from emocue import augment

min_version("9.0")


# ---- configuration ------------------------------------------------------------------------------
# Schema first (every problem at once, one line each; fills defaults), then the checks a schema
# cannot express. The overlay (--configfile/--config) lets the checks tell merged-in keys apart.
CONFIG_OVERLAY = (
    None if workflow.config_settings.replace_workflow_config else workflow.config_settings.overwrite_config
)
for warning in emocue_config.validate_config(config, CONFIG_OVERLAY):
    logger.warning(f"WARNING: {warning}")

RESULTS = layout.RESULTS
SESSIONS = list(config["corpus"]["sessions"])
CLASSES = list(config["corpus"]["classes"])
FOLDS = emocue_config.fold_names(config)  # a fold is named after its test session
SEEDS = [int(seed) for seed in config["train"]["seeds"]]
CONTEXTS = [int(context) for context in config["csa"]["contexts"]]
# Speed perturbation (emocue.augment): tag (sp0.9) -> factor, for the sessions some fold trains on.
SPEED_TAGS = {augment.speed_tag(factor): factor for factor in augment.speed_factors(config)}
TRAINING_SESSIONS = emocue_config.training_sessions(config)


def hparam_choice(wildcards):
    """Input of a BLSTMATT training run: its fold's chosen grid point (hparam.smk) when the search
    is on; nothing for CSA runs (a `context` wildcard) and for the search's own runs (`point`)."""
    if not config["hparam"]["enabled"] or {"context", "point"} & set(wildcards.keys()):
        return []
    return [layout.hparam_outputs(wildcards.fold)["chosen"]]


def speed_feature_files(kind="features"):
    """Features (or stats) of every speed-perturbed training session; [] when augment is off."""
    path = layout.speed_features_file if kind == "features" else layout.speed_features_stats
    return [path(session, tag) for session in TRAINING_SESSIONS for tag in SPEED_TAGS]


# ---- corpus: whole-corpus checks before any job; a manifest's rows split per session ------------
# Split scheme by sessions: each fold tests on the session it is named after (loso_speaker folds
# are speakers, speaker-independent by construction).
SESSION_TEST_FOLDS = [] if config["split"]["scheme"] == "loso_speaker" else [[fold] for fold in FOLDS]
for warning in emocue_corpus.check_corpus(config["corpus"], SESSION_TEST_FOLDS):
    logger.warning(f"WARNING: {warning}")
if config["corpus"]["type"] == "manifest":
    # Rewritten only when a session's rows change, so an edited row reruns its session only.
    for session in SESSIONS:
        emocue_corpus.write_session_rows(config["corpus"], session, layout.corpus_manifest_rows(session))


def corpus_session_input(wildcards):
    """Input function of `corpus_session`: the files one session's manifest is read from (a change
    reruns that session only). demo: the generator's per-session summary, as rule demo_session
    writes the tree as a whole (listing the generated files would change the input set once they
    exist, rerunning every session once after the first run); manifest: the session's rows file
    and its audio; iemocap/emodb: the session's files in the corpus tree."""
    corpus = config["corpus"]
    if corpus["type"] == "demo":
        return {"corpus": [layout.demo_summary(wildcards.session)]}
    files = {"corpus": emocue_corpus.session_files(corpus, wildcards.session)}
    if corpus["type"] == "manifest":
        files["rows"] = layout.corpus_manifest_rows(wildcards.session)
    return files


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


# ---- align: where each backend reads from, and what one session's job depends on --------------
ALIGN_BACKEND = config["align"]["backend"]  # textgrid | mfa | emodb | none (no align/attention jobs)
# The demo generator writes its synthesizer TextGrids here (the textgrid backend's demo default).
DEMO_TEXTGRID_DIR = config["align"].get("textgrid_dir") or f"{RESULTS}/demo/textgrids"
# align.mfa.mode: train — rule mfa_train's outputs (its dictionary covers every session's words)
MFA_TRAIN_DIR = f"{RESULTS}/align/mfa_train"
MFA_TRAIN_OUTPUTS = {
    "model": f"{MFA_TRAIN_DIR}/acoustic_model.zip",
    "dictionary": f"{MFA_TRAIN_DIR}/cmudict.dict",
    "staging": f"{MFA_TRAIN_DIR}/staging.json",
    "aligned": f"{MFA_TRAIN_DIR}/aligned",
}


def align_source_dir():
    """The folder the textgrid / emodb backend reads. Defaults apply to their own corpus only: the
    synthesizer's TextGrids for corpus.type demo, <corpus.root>/lablaut for emodb."""
    align, corpus = config["align"], config["corpus"]
    if ALIGN_BACKEND == "textgrid":
        return DEMO_TEXTGRID_DIR if corpus["type"] == "demo" else align.get("textgrid_dir")
    if ALIGN_BACKEND == "emodb":
        return align.get("emodb_label_dir") or os.path.join(corpus["root"], "lablaut")
    return None


def align_settings():
    """The `align` section with its source folder resolved (the rule's params)."""
    folder_key = {"textgrid": "textgrid_dir", "emodb": "emodb_label_dir"}.get(ALIGN_BACKEND)
    return {**config["align"], **({folder_key: align_source_dir()} if folder_key else {})}


def align_input_files(wildcards):
    """Input function of `align_session`: what one session's alignment reads, so that only a changed
    session re-runs. Always its manifest; textgrid: the session's TextGrids (demo: the folder
    rule demo_session writes them to, a directory() output; listing the files would change the
    input set once they exist); emodb: the label and syllable files; mfa: model files given by
    path, or in train mode the outputs of rule mfa_train."""
    from emocue.align import textgrid_folder

    session = wildcards.session
    inputs = {"manifest": layout.corpus_table(session)}
    mfa = config["align"]["mfa"]
    if ALIGN_BACKEND == "textgrid" and config["corpus"]["type"] == "demo":
        inputs["textgrids"] = f"{DEMO_TEXTGRID_DIR}/{session}"
    elif ALIGN_BACKEND == "textgrid":
        folder = textgrid_folder(align_source_dir(), session)
        inputs["textgrids"] = sorted(str(path) for path in folder.rglob("*.TextGrid"))
    elif ALIGN_BACKEND == "emodb":  # phone labels, and the syllables beside them (words)
        inputs["labels"] = sorted(glob.glob(os.path.join(align_source_dir(), "*.lablaut")))
        inputs["syllables"] = sorted(glob.glob(os.path.join(align_source_dir(), os.pardir, "silb", "*.silb")))
    elif ALIGN_BACKEND == "mfa" and mfa["mode"] == "train":
        trained = MFA_TRAIN_OUTPUTS if session in TRAINING_SESSIONS else {
            key: MFA_TRAIN_OUTPUTS[key] for key in ("model", "dictionary")}
        inputs.update(trained)
    elif ALIGN_BACKEND == "mfa":
        given = (mfa["acoustic_model"], mfa["dictionary"])
        inputs["model_files"] = [path for path in given if os.path.isfile(path)]
    return inputs


# ---- training runs: train.smk writes their folders (paths: emocue.layout) -----------------------
def run_settings(model):
    """The settings a run's results depend on. As params they make Snakemake rerun exactly the jobs
    of a model whose settings changed; where a job runs (device, Slurm keys) and the lists that fan
    out into separate jobs (seeds, CSA contexts) are left out, so changing those reruns nothing that
    exists. How results are scored (the `evaluation` section) is not a training setting at all."""
    not_results = {"device", "threads", "gpus", "mem_mb", "runtime", "seeds", "contexts"}
    return {
        section: {key: value for key, value in config[section].items() if key not in not_results}
        for section in (model, "train", "split", "augment")
    } | {"normalisation": config["features"]["normalisation"], "classes": CLASSES}


def training_runs(model, context=None):
    """Every run of `model` (and CSA context): one per fold and seed, as layout.run_dir arguments."""
    return [
        {"model": model, "fold": fold, "seed": seed, "context": context}
        for fold, seed in itertools.product(FOLDS, SEEDS)
    ]


BLSTMATT_RUNS = training_runs("blstmatt")
CSA_RUNS = [run for context in CONTEXTS for run in training_runs("csa", context)]


def run_files(name, runs):
    """`name` (a layout.RUN_FILES role) of every run in `runs`, in order."""
    return [layout.run_file(name, **run) for run in runs]


def blstmatt_fold_files(name):
    """`name` in the BLSTMATT run folder of every fold, for the job's {seed}."""
    return [layout.run_file(name, "blstmatt", fold, "{seed}") for fold in FOLDS]


# ---- classical baseline (baseline.smk): eGeMAPS + linear classifiers, scored like the others --
BASELINE_CLASSIFIERS = list(config["baseline"]["classifiers"]) if config["baseline"]["enabled"] else []
# System name (layout.BASELINE_SYSTEMS) -> its runs, one per fold and seed.
BASELINE_RUNS = {
    layout.BASELINE_SYSTEMS[classifier]: [
        {"classifier": classifier, "fold": fold, "seed": seed} for fold in FOLDS for seed in SEEDS
    ]
    for classifier in BASELINE_CLASSIFIERS
}


def baseline_run_files(name, system):
    """`name` (a layout.BASELINE_FILES role) of every run of a baseline system."""
    return [layout.baseline_outputs(**run)[name] for run in BASELINE_RUNS[system]]


# ---- systems: what the score stage scores and Table 1 lists --------------------------------------
# Table 1's systems (layout.paper_systems), then the baselines, in table order. Trained systems are
# scored from their runs' predictions (CSA also at chunk level), baselines from theirs, the fused
# systems (SYSComb, SYSComb-w<paper weight>) from the fusion stage's predictions table.
TRAINED_SYSTEMS = {
    layout.BLSTMATT: BLSTMATT_RUNS,
    **{layout.csa_system(context): training_runs("csa", context) for context in CONTEXTS},
}
PAPER_SYSTEMS = layout.paper_systems(CONTEXTS, config["fusion"]["paper_weight"])
# fusion.systems: further systems fused onto SYSComb (each a baseline of this config).
FUSION_OTHERS = list(config["fusion"]["systems"])
for system in FUSION_OTHERS:
    if system not in BASELINE_RUNS:
        raise ValueError(f"fusion.systems: {system!r} is not a system of this config; fusable "
                         f"systems: {list(BASELINE_RUNS)} (baseline.enabled, baseline.classifiers)")
COMBINED_SYSTEMS = [layout.syscomb_with(system) for system in FUSION_OTHERS]
FUSED_SYSTEMS = [*(system for system in PAPER_SYSTEMS if system not in TRAINED_SYSTEMS), *COMBINED_SYSTEMS]
SYSTEMS = [*PAPER_SYSTEMS, *BASELINE_RUNS, *COMBINED_SYSTEMS]


def other_predictions(system, fold, seed):
    """The validation and test prediction files of a baseline system for one fold and seed."""
    outputs = layout.baseline_outputs(BASELINE_RUNS[system][0]["classifier"], fold, seed)
    return {"val": outputs["val_predictions"], "test": outputs["predictions"]}


def system_predictions(wildcards):
    """Input function of `score_system`: the prediction tables of one system."""
    system = wildcards.system
    if system in TRAINED_SYSTEMS:
        runs = TRAINED_SYSTEMS[system]
        chunks = run_files("chunk_predictions", runs) if runs[0]["model"] == "csa" else []
        return {"predictions": run_files("predictions", runs), "chunk_predictions": chunks}
    if system in BASELINE_RUNS:
        return {"predictions": baseline_run_files("predictions", system)}
    if system in FUSED_SYSTEMS:
        return {"predictions": [layout.stage_outputs(layout.FUSION_OUTPUTS)["predictions"]]}
    raise ValueError(f"no system {system!r}; systems of this config: {SYSTEMS}")


def system_runs(wildcards):
    """Params of `score_system`: fold and seed of each prediction table (None: the table has fold,
    seed and system columns)."""
    runs = TRAINED_SYSTEMS.get(wildcards.system) or BASELINE_RUNS.get(wildcards.system)
    return [{"fold": run["fold"], "seed": run["seed"]} for run in runs] if runs else [None]


def score_files(name, systems=None):
    """`name` (a layout.SCORE_FILES role) of every system in `systems` (default: all), in order."""
    return [layout.score_file(name, system) for system in (SYSTEMS if systems is None else systems)]


# ---- report: the files the page reads for this config (emocue.report.report_files) -------------
def report_inputs(wildcards):
    """Input function of `build_report`: every file its sections read, by name, under RESULTS.
    Imported here, not at the top: only a DAG that contains the report pays for loading altair."""
    from emocue.report import report_files

    return {
        name: [f"{RESULTS}/{path}" for path in paths]
        for name, paths in report_files(config).items()
    }


# ---- interpret + validation (validation.smk) ---------------------------------------------------
VALIDATION = config["validation"]
VALIDATION_CUES = list(VALIDATION["cues"])
# Sessions holding test utterances: the folds when folds are sessions, else every session.
TEST_SESSIONS = [fold for fold in FOLDS if fold in SESSIONS] or SESSIONS


def interpret_inputs(model):
    """Input of interpret_run: the run's model and test predictions, every session's features (a
    run's test utterances are read from whichever session holds them) and the test alignments."""
    context = "{context}" if model == "csa" else None
    files = {
        "model": layout.run_file("model", model, "{fold}", "{seed}", context),
        "predictions": layout.run_file("predictions", model, "{fold}", "{seed}", context),
        "manifests": [layout.corpus_table(session) for session in SESSIONS],
        "features": [layout.features_file(session) for session in SESSIONS],
        "stats": [layout.features_stats(session) for session in SESSIONS],
        "intervals": [layout.align_intervals(session) for session in TEST_SESSIONS],
    }
    if model == "blstmatt":  # the deletion curve's attention ranking
        files["attention"] = layout.run_file("attention", model, "{fold}", "{seed}")
    return files


def interpret_run_files(name, runs):
    return [layout.interpret_run_outputs(**run)[name] for run in runs]
