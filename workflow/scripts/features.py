"""Rule extract_features: one session's fbank features (.npz) and per-speaker statistics."""

import torch

from emocue.features import FbankOptions, write_session_features
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
torch.set_num_threads(snakemake.threads)  # noqa: F821
write_session_features(
    manifest_path=snakemake.input.manifest,  # noqa: F821
    features_path=snakemake.output.features,  # noqa: F821
    stats_path=snakemake.output.stats,  # noqa: F821
    options=FbankOptions(**snakemake.params.fbank),  # noqa: F821
    speed=snakemake.params.speed,  # noqa: F821
)
