"""Per-session log-Mel filterbank features (paper §4.1: 23-dim, 25 ms window, 10 ms shift).

Storage: one uncompressed ``.npz`` per session with every utterance's (T, 23) float32 matrix
concatenated into ``feats`` (N_frames, 23), row ``offsets`` (U+1) and ``utt_ids`` (U). Loading is
one contiguous read, which keeps IEMOCAP-scale training (≈4.3 M frames) fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FeatureSet:
    """All utterances of one session: ``feats[offsets[i]:offsets[i+1]]`` is utterance ``utt_ids[i]``."""

    utt_ids: np.ndarray  # (U,) unicode
    offsets: np.ndarray  # (U+1,) int64
    feats: np.ndarray  # (N_frames, n_mels) float32

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def index(self) -> dict[str, int]:
        return {utt_id: i for i, utt_id in enumerate(self.utt_ids.tolist())}

    def get(self, utt_id: str) -> np.ndarray:
        """The (T, n_mels) matrix of one utterance (a view, no copy)."""
        i = self.index()[utt_id]
        return self.feats[self.offsets[i] : self.offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.utt_ids)


def save_features(path: str | Path, utt_ids: Sequence[str], matrices: Sequence[np.ndarray]) -> None:
    """Write utterance matrices (each (T, n_mels)) as one FeatureSet file."""
    if len(utt_ids) != len(matrices):
        raise ValueError(f"{len(utt_ids)} utt_ids but {len(matrices)} feature matrices")
    lengths = np.array([len(m) for m in matrices], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_mels = matrices[0].shape[1] if matrices else 0
    feats = (
        np.concatenate(matrices).astype(np.float32, copy=False)
        if matrices
        else np.zeros((0, n_mels), np.float32)
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # a handle keeps numpy from appending ".npz" to the name
        np.savez(handle, utt_ids=np.asarray(list(utt_ids), dtype=str), offsets=offsets, feats=feats)


def load_features(path: str | Path) -> FeatureSet:
    with np.load(path, allow_pickle=False) as data:
        return FeatureSet(utt_ids=data["utt_ids"], offsets=data["offsets"], feats=data["feats"])
