"""Rule baseline_functionals: eGeMAPS v02 functionals of one session (emocue.baseline)."""

from emocue.baseline import write_session_functionals
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
write_session_functionals(
    snakemake.input.manifest,  # noqa: F821
    snakemake.output.functionals,  # noqa: F821
    sample_rate=snakemake.params.sample_rate,  # noqa: F821
)
