"""Rule frame_covariates: per-frame log energy, Praat voicing and F0, position of one session."""

import polars as pl

from emocue.confounds import session_covariates
from emocue.features import load_features
from emocue.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
features = load_features(snakemake.input.features)  # noqa: F821
frame_counts = dict(zip(features.utt_ids, (int(n) for n in features.offsets[1:] - features.offsets[:-1])))
table = session_covariates(pl.read_parquet(snakemake.input.manifest), frame_counts)  # noqa: F821
table.write_parquet(snakemake.output.covariates)  # noqa: F821
log.info("%d frames of %d utterances", table.height, table["utt_id"].n_unique())
