"""Rule baseline_classifier: one classifier on one fold and seed, C chosen on validation (emocue.baseline)."""

from emocue.baseline import run_baseline
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
wildcards = snakemake.wildcards  # noqa: F821
run_baseline(
    classifier=wildcards.classifier,
    fold=wildcards.fold,
    seed=int(wildcards.seed),
    manifests=list(snakemake.input.manifests),  # noqa: F821
    functionals=list(snakemake.input.functionals),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
    config=snakemake.config,  # noqa: F821
)
