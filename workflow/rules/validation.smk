# interpret + validation (issue 13): do the interpretation methods find the truth?
# `snakemake interpret` — on the configured corpus, per trained run: Integrated Gradients, vowel /
#   consonant frame deletion, deletion curve (interpret_run); per test session: Praat covariates
#   (frame_covariates); then every method's verdict (interpret_corpus). Not part of `all`.
# `snakemake validation` — the same on planted-cue demo corpora: one config per cue written side by
#   side (validation_config), each run as its own workflow in results/validation/<cue>/
#   (validation_corpus: this Snakefile, target `interpret`), stacked into summary.parquet.
# Needs train.smk and attention.smk (run folders) and fusion.smk (chosen CSA context) included first.

wildcard_constraints:
    cue="vowels|consonants|none",


rule interpret_blstmatt:
    input:
        **interpret_inputs("blstmatt"),
    output:
        **layout.interpret_run_outputs("blstmatt", "{fold}", "{seed}"),
    log:
        log_path("interpret_blstmatt", "{fold}/seed{seed}"),
    benchmark:
        benchmark_path("interpret_blstmatt", "{fold}/seed{seed}")
    params:
        settings={"validation": VALIDATION, "attention": config["attention"]},
    threads: 1
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/interpret_run.py"


use rule interpret_blstmatt as interpret_csa with:
    input:
        **interpret_inputs("csa"),
    output:
        **layout.interpret_run_outputs("csa", "{fold}", "{seed}", "{context}"),
    log:
        log_path("interpret_csa", "C{context}/{fold}/seed{seed}"),
    benchmark:
        benchmark_path("interpret_csa", "C{context}/{fold}/seed{seed}")


rule frame_covariates:
    input:
        manifest=layout.corpus_table("{session}"),
        features=layout.features_file("{session}"),
    output:
        covariates=layout.frame_covariates_file("{session}"),
    log:
        log_path("frame_covariates", "{session}"),
    benchmark:
        benchmark_path("frame_covariates", "{session}")
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/frame_covariates.py"


rule interpret_corpus:
    input:
        **{f"blstmatt_{name}": interpret_run_files(name, BLSTMATT_RUNS) for name in layout.INTERPRET_RUN_FILES},
        **{f"csa_{name}": interpret_run_files(name, CSA_RUNS) for name in layout.INTERPRET_RUN_FILES},
        attention=run_files("attention", BLSTMATT_RUNS),
        predictions=run_files("predictions", BLSTMATT_RUNS),
        selection=layout.stage_outputs(layout.FUSION_OUTPUTS)["selection"],
        manifests=[layout.corpus_table(session) for session in TEST_SESSIONS],
        intervals=[layout.align_intervals(session) for session in TEST_SESSIONS],
        covariates=[layout.frame_covariates_file(session) for session in TEST_SESSIONS],
    output:
        **layout.stage_outputs(layout.INTERPRET_OUTPUTS),
    log:
        log_path("interpret_corpus"),
    benchmark:
        benchmark_path("interpret_corpus")
    params:
        blstmatt_runs=BLSTMATT_RUNS,
        csa_runs=CSA_RUNS,
        settings={"validation": VALIDATION, "attention": config["attention"]},
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/interpret_corpus.py"


rule validation_config:
    output:
        config=layout.validation_config_file("{cue}"),
    log:
        log_path("validation_config", "{cue}"),
    benchmark:
        benchmark_path("validation_config", "{cue}")
    params:
        base=VALIDATION["base_config"] or os.path.join(workflow.basedir, "config.yaml"),
        validation=VALIDATION,
        attention=config["attention"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/validation_config.py"


rule validation_corpus:
    input:
        config=layout.validation_config_file("{cue}"),
    output:
        **layout.validation_outputs("{cue}"),
    log:
        log_path("validation_corpus", "{cue}"),
    benchmark:
        benchmark_path("validation_corpus", "{cue}")
    threads: VALIDATION["cores"]
    # `run:` (not a script): the nested Snakemake must be this Snakemake's own Python
    run:
        from emocue.validation import run_corpus_workflow

        run_corpus_workflow(workflow.main_snakefile, os.path.dirname(input.config), input.config, threads, log[0])


rule validation_summary:
    input:
        verdicts=[layout.validation_outputs(cue)["verdicts"] for cue in VALIDATION_CUES],
    output:
        summary=f"{RESULTS}/{layout.VALIDATION_SUMMARY}",
    log:
        log_path("validation_summary"),
    benchmark:
        benchmark_path("validation_summary")
    params:
        cues=VALIDATION_CUES,
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/validation_summary.py"


INTERPRET_TARGETS = list(layout.stage_outputs(layout.INTERPRET_OUTPUTS).values())
VALIDATION_TARGETS = [f"{RESULTS}/{layout.VALIDATION_SUMMARY}"]
