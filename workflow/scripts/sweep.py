"""Rule sweep_table: collect every CSA context's scores and validation results into the sweep."""

from pathlib import Path

from emocue.logs import setup_rule_logging
from emocue.sweep import ContextScores, SweepRun, run_sweep

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
runs = [
    SweepRun(context=int(run["context"]), fold=run["fold"], seed=int(run["seed"]),
             val_predictions=Path(val), metrics=Path(metrics))
    for run, val, metrics in zip(snakemake.params.runs, snakemake.input.val_predictions,  # noqa: F821
                                 snakemake.input.metrics, strict=True)  # noqa: F821
]
scores = [
    ContextScores(int(context), Path(runs_table), Path(summary))
    for context, runs_table, summary in zip(snakemake.params.contexts,  # noqa: F821
                                            snakemake.input.scores,  # noqa: F821
                                            snakemake.input.summaries, strict=True)  # noqa: F821
]
run_sweep(runs, scores, list(snakemake.params.classes), dict(snakemake.output))  # noqa: F821
