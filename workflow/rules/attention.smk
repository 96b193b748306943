# attention: where BLSTMATT's attention goes (emocue.attention). One `attention_stats` job per seed
# pools the test utterances of every fold of that seed (session5: the one fold; loso: each
# utterance is tested exactly once per seed) and writes the token tables and every test result;
# `attention_plots` draws the charts from them. Needs train.smk (run folders) included first.

ATTENTION_DIR = f"{RESULTS}/attention/seed{{seed}}"
ATTENTION_TABLES = {
    name: f"{ATTENTION_DIR}/{name}.parquet"
    for name in ("phones", "words", "utterances", "tests", "phone_ranking", "word_importance",
                 "left_out")
}
ATTENTION_CHARTS = ("vowel_consonant", "phone_ranking", "position", "word_emotion")
# Every CSA run of one seed (the job's {seed} wildcard), context by context and fold by fold.
CSA_SEED_RUNS = [
    {"fold": fold, "context": context,
     "chunk_predictions": layout.run_file("chunk_predictions", "csa", fold, "{seed}", context)}
    for context in CONTEXTS
    for fold in FOLDS
]
ATTENTION_CHART_FILES = {
    f"{chart}_{kind}": f"{ATTENTION_DIR}/charts/{chart}.{suffix}"
    for chart in ATTENTION_CHARTS
    for kind, suffix in (("json", "vl.json"), ("svg", "svg"))
}


rule attention_stats:
    input:
        attention=blstmatt_fold_files("attention"),
        predictions=blstmatt_fold_files("predictions"),
        manifests=expand(f"{RESULTS}/corpus/{{session}}.parquet", session=FOLDS),
        intervals=[layout.align_intervals(session) for session in FOLDS],
    output:
        **ATTENTION_TABLES,
    log:
        log_path("attention_stats", "seed{seed}"),
    benchmark:
        benchmark_path("attention_stats", "seed{seed}")
    params:
        folds=FOLDS,
        settings=config["attention"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/attention.py"


rule attention_plots:
    input:
        **{name: ATTENTION_TABLES[name] for name in
           ("phones", "words", "utterances", "tests", "phone_ranking", "word_importance")},
        attention=blstmatt_fold_files("attention"),
        # The Figure-1 chunk-posterior track: CSA at the context fusion chose on validation for each
        # fold of this seed. Which one is known only once fusion ran, so every context is declared.
        selection=FUSION_OUTPUTS["selection"],
        chunk_predictions=[run["chunk_predictions"] for run in CSA_SEED_RUNS],
    output:
        # the SVGs are flagged for `snakemake --report`, each with its caption (the report() call
        # must not start a line)
        **{name: (report(path, caption=f"../report/attention_{name.removesuffix('_svg')}.rst",
                         category="Attention") if name.endswith("_svg") else path)
           for name, path in ATTENTION_CHART_FILES.items()},
        utterance_dir=directory(f"{ATTENTION_DIR}/charts/utterances"),
        utterance_index=f"{ATTENTION_DIR}/charts/utterance_charts.parquet",
    log:
        log_path("attention_plots", "seed{seed}"),
    benchmark:
        benchmark_path("attention_plots", "seed{seed}")
    params:
        charts=ATTENTION_CHARTS,
        settings=config["attention"],
        chunk_runs=[{"fold": run["fold"], "context": run["context"]} for run in CSA_SEED_RUNS],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/attention_plots.py"


# align.backend none: no phone intervals, so no attention jobs (align.smk logs why; so does the report)
STAGE_TARGETS["attention"] = [] if ALIGN_BACKEND == "none" else expand(
    [*ATTENTION_TABLES.values(), *ATTENTION_CHART_FILES.values(),
     f"{ATTENTION_DIR}/charts/utterance_charts.parquet"],
    seed=SEEDS,
)
