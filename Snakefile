# emocue: interpreting attention-based speech emotion recognition (Jalal, Milner & Hain, 2020).
# Run `snakemake --cores all` (demo corpus) or `snakemake --profile slurm` on a cluster.
# Stage targets: corpus, features, align, train, sweep, fusion, attention, report.

configfile: "config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    session=session_pattern(SESSIONS),
    fold=session_pattern(FOLDS),
    seed=r"\d+",
    context=r"\d+",


include: "workflow/rules/demo.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/fusion.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/report.smk"


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


rule train:
    input:
        STAGE_TARGETS["train"],


rule sweep:
    input:
        STAGE_TARGETS["sweep"],


rule fusion:
    input:
        STAGE_TARGETS["fusion"],


rule attention:
    input:
        STAGE_TARGETS["attention"],
