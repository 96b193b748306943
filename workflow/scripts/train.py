"""Rules train_blstmatt / train_csa: train one run and write its outputs (emocue.train)."""

from pathlib import Path

from emocue.logs import setup_rule_logging
from emocue.train import OUTPUT_FILES, TrainJob, run_training

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
wildcards = snakemake.wildcards  # noqa: F821
context = wildcards.get("context")
out_dir = Path(snakemake.output.model).parent  # noqa: F821
for name, path in snakemake.output.items():  # noqa: F821
    if Path(path) != out_dir / OUTPUT_FILES[name]:
        raise RuntimeError(f"train.smk names output {name} {path}; emocue.train writes {OUTPUT_FILES[name]}")
run_training(
    TrainJob(
        model=snakemake.params.model,  # noqa: F821
        fold=wildcards.fold,
        seed=int(wildcards.seed),
        context=int(context) if context is not None else None,
        out_dir=out_dir,
        manifests=tuple(snakemake.input.manifests),  # noqa: F821
        features=tuple(snakemake.input.features),  # noqa: F821
        stats=tuple(snakemake.input.stats),  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    ),
    snakemake.config,  # noqa: F821
)
