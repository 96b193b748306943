"""One session's alignment job (rule align_session): dispatch to the configured backend."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from emocue.align.emodb import align_from_emodb_labels
from emocue.align.mfa import MfaConfig, align_with_mfa, read_mfa_staging, tables_from_mfa
from emocue.align.tables import SessionAlignment, align_from_textgrids
from emocue.features import FbankOptions

# align.backend values; `none` runs no alignment (and no attention analysis): the rules are not used.
BACKENDS = ("textgrid", "mfa", "emodb", "none")
# What the workflow's log and the report say when align.backend is `none` (one text for both).
NO_ALIGNMENT_REASON = (
    "align.backend is `none` (no phone alignment), so the align and attention stages do not run (the "
    "attention analysis needs phone intervals); set align.backend to `textgrid`, `mfa` or `emodb` to build them"
)


def align_session(
    session: str,
    manifest_path: str | Path,
    align_config: Mapping,
    work_dir: str | Path,
    threads: int = 1,
    on_bad_input: str = "fail",
    features_config: Mapping | None = None,
    mfa_training: Mapping[str, str] | None = None,
) -> SessionAlignment:
    """Dispatch one session to its backend; ``mfa_training`` holds the paths written by
    :func:`emocue.align.mfa.train_mfa` (keys ``model``, ``dictionary``, ``staging``, ``aligned``) in
    train mode. ``align_config`` is the ``align`` section with its folders resolved (the workflow's
    ``align_source_dir``: ``textgrid_dir`` / ``emodb_label_dir``)."""
    fbank = FbankOptions.from_config(features_config) if features_config else FbankOptions.defaults()
    manifest = pl.read_parquet(manifest_path)
    backend = align_config["backend"]
    if backend == "textgrid":
        return align_from_textgrids(session, manifest, align_config["textgrid_dir"], on_bad_input, fbank=fbank)
    if backend == "emodb":
        return align_from_emodb_labels(session, manifest, align_config["emodb_label_dir"], on_bad_input, fbank)
    if backend != "mfa":
        raise ValueError(f"align.backend {backend!r} has no alignment job (backends: {BACKENDS})")
    mfa_config = MfaConfig.from_config(align_config.get("mfa") or {})
    training = dict(mfa_training or {})
    if "staging" in training:  # a training session: MFA aligned it while training
        staging = read_mfa_staging(training["staging"], manifest)
        return tables_from_mfa(session, manifest, staging, training["aligned"], on_bad_input, fbank=fbank,
                               config=mfa_config)
    return align_with_mfa(session, manifest, mfa_config, work_dir, threads, on_bad_input,
                          dictionary=training.get("dictionary"), acoustic_model=training.get("model"), fbank=fbank)
