"""Rule attention_stats: map one seed's BLSTMATT attention onto phones/words and run the tests."""

from emocue.attention import AttentionSettings, run_stage
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
run_stage(
    attention_paths=list(snakemake.input.attention),  # noqa: F821
    prediction_paths=list(snakemake.input.predictions),  # noqa: F821
    folds=list(snakemake.params.folds),  # noqa: F821
    manifest_paths=list(snakemake.input.manifests),  # noqa: F821
    interval_paths=list(snakemake.input.intervals),  # noqa: F821
    settings=AttentionSettings.from_config(dict(snakemake.params.settings)),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
)
