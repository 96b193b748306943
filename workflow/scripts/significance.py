"""Rule compare_systems: the significance of every system pair per fold and seed."""

from emocue.logs import setup_rule_logging
from emocue.scoring import EvaluationSettings
from emocue.significance import run_significance

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
run_significance(list(snakemake.params.runs), list(snakemake.params.classes),  # noqa: F821
                 snakemake.input.selection, snakemake.input.fused,  # noqa: F821
                 EvaluationSettings.from_config(dict(snakemake.params.evaluation)),  # noqa: F821
                 dict(snakemake.output))  # noqa: F821
