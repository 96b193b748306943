"""Rule build_report: render results/report.html from the files the configured stages produce."""

from emocue.logs import setup_rule_logging
from emocue.report import write_report

setup_rule_logging(snakemake.log[0])  # noqa: F821
write_report(
    results_dir=snakemake.params.results,  # noqa: F821
    config=snakemake.config,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
)
