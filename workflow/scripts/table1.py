"""Rule build_table1: Table 1 from every system's score summary (emocue.table1)."""

from emocue.logs import setup_rule_logging
from emocue.table1 import run_table1

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
run_table1(list(snakemake.input.summaries), snakemake.input.selection,  # noqa: F821
           list(snakemake.input.manifests), snakemake.params.protocol,  # noqa: F821
           dict(snakemake.output))  # noqa: F821
