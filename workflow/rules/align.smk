# align: per-session phone/word intervals, QA and OOV tables (docs/outputs.md), from existing
# TextGrids (backend `textgrid`, the demo default), the Montreal Forced Aligner (backend `mfa`,
# conda env envs/mfa.yaml) or EmoDB's hand phone labels (backend `emodb`). A job's input is its own
# session's manifest plus what its backend reads (align_input_files in common.smk; for the demo
# corpus the TextGrid folder demo_session declares as a directory() output), so a changed
# session re-runs only its own alignment. Backend `none`: no alignment jobs (and no attention).

ALIGN_DIR = f"{RESULTS}/align"
ALIGN_USES_MFA = ALIGN_BACKEND == "mfa"


rule align_session:
    input:
        unpack(align_input_files),
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
        align=align_settings(),
        features=config["features"],
        on_bad_input=config["on_bad_input"],
        work_dir=f"{ALIGN_DIR}/mfa/{{session}}",
    threads: 4 if ALIGN_USES_MFA else 1
    conda:
        "../../envs/mfa.yaml" if ALIGN_USES_MFA else "../../envs/data.yaml"
    script:
        "../scripts/align.py"


# align.mfa.mode: train — one MFA training run on the training sessions; its pronunciation
# dictionary covers the words of every session's transcripts (see emocue.align.mfa.train_mfa)
rule mfa_train:
    input:
        manifests=[layout.corpus_table(session) for session in TRAINING_SESSIONS],
        vocabulary_manifests=[layout.corpus_table(session) for session in SESSIONS],
    output:
        **{key: path for key, path in MFA_TRAIN_OUTPUTS.items() if key != "aligned"},
        aligned=directory(MFA_TRAIN_OUTPUTS["aligned"]),
    log:
        log_path("mfa_train"),
    benchmark:
        benchmark_path("mfa_train")
    params:
        mfa=config["align"]["mfa"],
        work_dir=f"{MFA_TRAIN_DIR}/work",
    threads: 8
    conda:
        "../../envs/mfa.yaml"
    script:
        "../scripts/align_mfa_train.py"


STAGE_TARGETS["align"] = [] if ALIGN_BACKEND == "none" else expand(
    [
        f"{ALIGN_DIR}/{{session}}.intervals.parquet",
        f"{ALIGN_DIR}/{{session}}.qa.parquet",
        f"{ALIGN_DIR}/{{session}}.oov.parquet",
        f"{ALIGN_DIR}/{{session}}.summary.json",
    ],
    session=SESSIONS,
)
if ALIGN_BACKEND == "none":
    from emocue.align import NO_ALIGNMENT_REASON

    logger.warning(f"WARNING: {NO_ALIGNMENT_REASON}")
