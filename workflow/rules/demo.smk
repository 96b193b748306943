# demo: the embedded, generated demo corpus (espeak-ng speech in the IEMOCAP layout).
# One job per session writes the session's corpus tree under corpus.root and its synthesizer
# TextGrids under align.textgrid_dir/<session> (a directory() output), plus a JSON summary that
# the corpus stage takes as input (the corpus tree is a side product; the session's old folders
# are removed first).


rule demo_session:
    output:
        summary=f"{RESULTS}/demo/{{session}}.json",
        # the synthesizer TextGrids as one folder (their names are known only once generated):
        # align_session declares it as its input, so that job reads only a declared input
        textgrids=directory(f"{DEMO_TEXTGRID_DIR}/{{session}}"),
    log:
        log_path("demo_session", "{session}"),
    benchmark:
        benchmark_path("demo_session", "{session}")
    params:
        corpus_root=config["corpus"]["root"],
        seed=config["demo"]["seed"],
        dialogs=config["demo"]["dialogs_per_session"],
        utterances_per_dialog=config["demo"]["utterances_per_dialog"],
        cue=config["demo"]["cue"],
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/demo.py"


STAGE_TARGETS["demo"] = (
    expand(f"{RESULTS}/demo/{{session}}.json", session=SESSIONS)
    if config["corpus"]["type"] == "demo"
    else []
)
