# score: one job per system (BLSTMATT, each CSA context, SYSComb, SYSComb-w<paper weight>) turns its
# test predictions into WA / UA / macro-F1 with bootstrap CIs, per-class recall and confusion counts
# per run, per seed (folds pooled) and across seeds (emocue.scoring; docs/outputs.md, "score").
# Scoring settings live in the `evaluation` section, so changing them reruns these jobs and what
# reads them, never training. Needs train.smk and fusion.smk (the prediction tables) included first.

rule score_system:
    input:
        unpack(system_predictions),
    output:
        **layout.score_outputs("{system}"),
    log:
        log_path("score_system", "{system}"),
    benchmark:
        benchmark_path("score_system", "{system}")
    params:
        runs=system_runs,
        classes=CLASSES,
        evaluation=config["evaluation"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/score.py"


STAGE_TARGETS["score"] = score_files("summary")
