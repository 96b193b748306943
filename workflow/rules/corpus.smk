# corpus: one utterance manifest per session (docs/outputs.md), from the IEMOCAP layout (also the
# generated demo corpus), EmoDB or a CSV/TSV manifest. The input is the session's own files only
# (common.smk: corpus_session_input), so a changed wav or manifest row reruns just its session.


rule corpus_session:
    input:
        unpack(corpus_session_input),
    output:
        manifest=layout.corpus_table("{session}"),
        dropped=layout.corpus_dropped("{session}"),
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


STAGE_TARGETS["corpus"] = [
    path
    for session in SESSIONS
    for path in (layout.corpus_table(session), layout.corpus_dropped(session))
]
