# sweep: the CSA context-length sweep table. The per-context CSA training jobs (one per context,
# fold and seed, in train.smk) run in parallel and the score stage scores each context; this job
# only collects those scores (utterance and chunk level, with CIs), the utterances kept / left out
# and the validation scores into one table and a summary per context. Needs score.smk first.
CSA_SYSTEMS = [layout.csa_system(context) for context in CONTEXTS]


rule sweep_table:
    input:
        val_predictions=run_files("val_predictions", CSA_RUNS),
        metrics=run_files("metrics", CSA_RUNS),
        scores=score_files("runs", CSA_SYSTEMS),
        summaries=score_files("summary", CSA_SYSTEMS),
    output:
        **layout.stage_outputs(layout.SWEEP_OUTPUTS),
    log:
        log_path("sweep_table"),
    benchmark:
        benchmark_path("sweep_table")
    params:
        runs=CSA_RUNS,
        contexts=CONTEXTS,
        classes=CLASSES,
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/sweep.py"


STAGE_TARGETS["sweep"] = list(layout.stage_outputs(layout.SWEEP_OUTPUTS).values())
