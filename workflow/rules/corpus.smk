# corpus: one utterance manifest per session (docs/outputs.md), from the IEMOCAP layout (also the
# generated demo corpus) or a CSV/TSV manifest. The input is the session's own files only, so a
# changed wav re-runs just its session (demo: the generator's per-session summary).
# All .smk files share one namespace: qualify the name (emocue.align has its own session_input_files).
from emocue import corpus as emocue_corpus


rule corpus_session:
    input:
        lambda wildcards: emocue_corpus.session_input_files(config, wildcards.session, RESULTS),
    output:
        manifest=f"{RESULTS}/corpus/{{session}}.parquet",
        dropped=f"{RESULTS}/corpus/{{session}}.dropped.parquet",
    log:
        log_path("corpus_session", "{session}"),
    benchmark:
        benchmark_path("corpus_session", "{session}")
    params:
        corpus=emocue_corpus.reader_settings(config["corpus"]),
        on_bad_input=config["on_bad_input"],
        min_duration_s=config["features"]["frame_length_ms"] / 1000,
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/corpus.py"


STAGE_TARGETS["corpus"] = expand(
    [f"{RESULTS}/corpus/{{session}}.parquet", f"{RESULTS}/corpus/{{session}}.dropped.parquet"],
    session=SESSIONS,
)
