"""Rule hparam_select: the grid point with the best validation score of one fold (emocue.hparam)."""

from emocue.hparam import write_selection
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
write_selection(
    list(snakemake.input.histories),  # noqa: F821
    snakemake.config,  # noqa: F821
    snakemake.wildcards.fold,  # noqa: F821
    snakemake.output.search,  # noqa: F821
    snakemake.output.chosen,  # noqa: F821
)
