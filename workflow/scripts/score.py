"""Rule score_system: score one system's test predictions (emocue.scoring)."""

from emocue.logs import setup_rule_logging
from emocue.scoring import EvaluationSettings, load_decisions, score_system, write_scores

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
system = snakemake.wildcards.system  # noqa: F821
classes = list(snakemake.params.classes)  # noqa: F821
decisions = load_decisions(system, list(snakemake.input.predictions),  # noqa: F821
                           list(snakemake.params.runs),  # noqa: F821
                           list(snakemake.input.get("chunk_predictions", [])), classes)  # noqa: F821
scores = score_system(decisions, classes, system,
                      EvaluationSettings.from_config(dict(snakemake.params.evaluation)))  # noqa: F821
write_scores(scores, dict(snakemake.output))  # noqa: F821
