"""Rules interpret_blstmatt / interpret_csa: IG, class deletion and deletion curve of one run."""

from emocue.logs import setup_rule_logging
from emocue.validation import InterpretSettings, interpret_run

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
inputs = snakemake.input  # noqa: F821
interpret_run(
    model_path=inputs.model,
    predictions_path=inputs.predictions,
    attention_path=inputs.get("attention"),
    manifests=list(inputs.manifests),
    features=list(inputs.features),
    feature_stats=list(inputs.stats),
    intervals=list(inputs.intervals),
    settings=InterpretSettings.from_config(snakemake.params.settings),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
)
