"""Rule mfa_train (align.mfa.mode: train): train an MFA acoustic model on the training sessions,
with a dictionary of every session's words."""

import polars as pl

from emocue.align import MfaConfig, train_mfa
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
output = snakemake.output  # noqa: F821
train_mfa(
    manifests={path: pl.read_parquet(path) for path in snakemake.input.manifests},  # noqa: F821
    vocabulary_manifests={path: pl.read_parquet(path, columns=["transcript"])  # noqa: F821
                          for path in snakemake.input.vocabulary_manifests},  # noqa: F821
    config=MfaConfig.from_config(snakemake.params.mfa),  # noqa: F821
    work_dir=snakemake.params.work_dir,  # noqa: F821
    model_path=output.model,
    dictionary_path=output.dictionary,
    staging_path=output.staging,
    aligned_dir=output.aligned,
    threads=snakemake.threads,  # noqa: F821
)
