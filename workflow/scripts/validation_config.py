"""Rule validation_config: the demo config of one planted-cue corpus."""

from emocue.logs import setup_rule_logging
from emocue.validation import validation_config, write_config

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
params = snakemake.params  # noqa: F821
write_config(validation_config(params.base, snakemake.wildcards.cue, dict(params.validation),  # noqa: F821
                               dict(params.attention)), snakemake.output.config)  # noqa: F821
