"""Rule validation_summary: one row per (planted cue, method) — results/validation/summary.parquet."""

from emocue.logs import setup_rule_logging
from emocue.validation import validation_summary

log = setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
summary = validation_summary(dict(zip(snakemake.params.cues, snakemake.input.verdicts)))  # noqa: F821
summary.write_parquet(snakemake.output.summary)  # noqa: F821
for row in summary.iter_rows(named=True):
    log.info("%s / %s: %s", row["cue"], row["method"], row["verdict"])
