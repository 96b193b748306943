# emocue: interpreting attention-based speech emotion recognition (Jalal, Milner & Hain, 2020).
# Run `snakemake --cores all` (demo corpus) or `snakemake --profile slurm` on a cluster.
# Stage targets: corpus, features, align, train, score, sweep, fusion, significance, table1, attention,
# report.

configfile: "config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    session=session_pattern(SESSIONS),
    fold=session_pattern(FOLDS),
    seed=r"\d+",
    context=r"\d+",
    system=session_pattern(SYSTEMS),
    speed=r"sp[0-9.]+",
    classifier="|".join(layout.BASELINE_SYSTEMS),
    point=r"lr[^/]+",


include: "workflow/rules/demo.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/hparam.smk"
include: "workflow/rules/fusion.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/significance.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/table1.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/validation.smk"


rule all:
    default_target: True
    input:
        all_targets(),


rule corpus:
    input:
        STAGE_TARGETS["corpus"],


rule features:
    input:
        STAGE_TARGETS["features"],


rule align:
    input:
        STAGE_TARGETS["align"],


rule report:
    input:
        STAGE_TARGETS["report"],


rule baseline:
    input:
        STAGE_TARGETS["baseline"],


rule hparam:
    input:
        STAGE_TARGETS["hparam"],


rule train:
    input:
        STAGE_TARGETS["train"],


rule score:
    input:
        STAGE_TARGETS["score"],


rule sweep:
    input:
        STAGE_TARGETS["sweep"],


rule fusion:
    input:
        STAGE_TARGETS["fusion"],


rule significance:
    input:
        STAGE_TARGETS["significance"],


rule table1:
    input:
        STAGE_TARGETS["table1"],


rule attention:
    input:
        STAGE_TARGETS["attention"],


# Interpretation methods on the configured corpus and their planted-cue validation (not in `all`:
# README "Does the analysis find a planted cue?").
rule interpret:
    input:
        INTERPRET_TARGETS,


rule validation:
    input:
        VALIDATION_TARGETS,
