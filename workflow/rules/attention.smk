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
        intervals=expand(f"{RESULTS}/align/{{session}}.intervals.parquet", session=FOLDS),
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
    output:
        # the SVGs are flagged for `snakemake --report` (the report() call must not start a line)
        **{name: (report(path, category="Attention") if name.endswith("_svg") else path)
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
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/attention_plots.py"


STAGE_TARGETS["attention"] = expand(
    [*ATTENTION_TABLES.values(), *ATTENTION_CHART_FILES.values(),
     f"{ATTENTION_DIR}/charts/utterance_charts.parquet"],
    seed=SEEDS,
)
