"""Rule sweep_table: collect the CSA runs of every context, fold and seed into the sweep table."""

from pathlib import Path

from emocue.logs import setup_rule_logging
from emocue.sweep import SweepRun, run_sweep

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
runs = [
    SweepRun(context=int(run["context"]), fold=run["fold"], seed=int(run["seed"]),
             test_predictions=Path(test), val_predictions=Path(val), metrics=Path(metrics))
    for run, test, val, metrics in zip(
        snakemake.params.runs, snakemake.input.test_predictions,  # noqa: F821
        snakemake.input.val_predictions, snakemake.input.metrics, strict=True)  # noqa: F821
]
run_sweep(runs, list(snakemake.params.classes), int(snakemake.params.bootstrap),  # noqa: F821
          snakemake.output.sweep, snakemake.output.summary)  # noqa: F821
