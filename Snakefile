# emocue: interpreting attention-based speech emotion recognition (Jalal, Milner & Hain, 2020).
# Run `snakemake --cores all` (demo corpus) or `snakemake --profile slurm` on a cluster.
# Stage targets: corpus, features, align, train, sweep, fusion, attention, report.

configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/features.smk"


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
