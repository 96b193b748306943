# align: per-session phone/word intervals, QA and OOV tables (docs/outputs.md), from existing
# TextGrids (backend `textgrid`, the demo default) or the Montreal Forced Aligner (backend `mfa`,
# conda env envs/mfa.yaml). A job's input is its own session's manifest (plus its TextGrids, or the
# MFA model files given by path), so a changed session re-runs only its own alignment.
from emocue.align import align_input_files, mfa_train_outputs, mfa_training_sessions

ALIGN_DIR = f"{RESULTS}/align"
ALIGN_USES_MFA = config["align"]["backend"] == "mfa"


rule align_session:
    input:
        unpack(lambda wildcards: align_input_files(config, wildcards.session, RESULTS)),
    output:
        intervals=f"{ALIGN_DIR}/{{session}}.intervals.parquet",
        qa=f"{ALIGN_DIR}/{{session}}.qa.parquet",
        oov=f"{ALIGN_DIR}/{{session}}.oov.parquet",
        summary=f"{ALIGN_DIR}/{{session}}.summary.json",
    log:
        log_path("align_session", "{session}"),
    benchmark:
        benchmark_path("align_session", "{session}")
    params:
        align=config["align"],
        features=config["features"],
        on_bad_input=config["on_bad_input"],
        work_dir=f"{ALIGN_DIR}/mfa/{{session}}",
    threads: 4 if ALIGN_USES_MFA else 1
    conda:
        "../../envs/mfa.yaml" if ALIGN_USES_MFA else "../../envs/data.yaml"
    script:
        "../scripts/align.py"


# align.mfa.mode: train — one MFA training run on the training sessions (see emocue.align.train_mfa)
rule mfa_train:
    input:
        manifests=expand(f"{RESULTS}/corpus/{{session}}.parquet", session=mfa_training_sessions(config)),
    output:
        **{key: path for key, path in mfa_train_outputs(RESULTS).items() if key != "aligned"},
        aligned=directory(mfa_train_outputs(RESULTS)["aligned"]),
    log:
        log_path("mfa_train"),
    benchmark:
        benchmark_path("mfa_train")
    params:
        mfa=config["align"]["mfa"],
        work_dir=f"{ALIGN_DIR}/mfa_train/work",
    threads: 8
    conda:
        "../../envs/mfa.yaml"
    script:
        "../scripts/align_mfa_train.py"


STAGE_TARGETS["align"] = expand(
    [
        f"{ALIGN_DIR}/{{session}}.intervals.parquet",
        f"{ALIGN_DIR}/{{session}}.qa.parquet",
        f"{ALIGN_DIR}/{{session}}.oov.parquet",
        f"{ALIGN_DIR}/{{session}}.summary.json",
    ],
    session=SESSIONS,
)
