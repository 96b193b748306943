"""A small fake IEMOCAP_full_release tree with the real layout's quirks, for reader tests.

Quirks: `%` header, annotator lines (`C-E1:`, `A-F1:`) after each utterance line, macOS `._*`
files, transcripts with non-speech tokens and non-utterance ids (`…_MXX0`), a script dialog whose
prefix gender differs from the speaker's (`Ses01M_script01_1_F012` is spoken by the woman), an
unused label (`fru`, `xxx`), and one wav at 44.1 kHz stereo (allowed; resampled by features).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class FakeUtterance:
    utt_id: str
    label: str
    transcript: str | None
    seconds: float = 1.0
    sample_rate: int = 16000
    channels: int = 1


FAKE_SESSION1 = [
    FakeUtterance("Ses01F_impro01_F000", "neu", "Excuse me."),
    FakeUtterance("Ses01F_impro01_M000", "exc", "Do you have your forms [LAUGHTER]?"),
    FakeUtterance("Ses01F_impro01_F001", "fru", "Yeah."),
    FakeUtterance("Ses01F_impro01_M001", "xxx", "[BREATHING] Let me see them."),
    FakeUtterance("Ses01M_script01_1_F012", "ang", "What is that supposed to mean?", sample_rate=44100, channels=2),
    FakeUtterance("Ses01M_script01_1_M012", "sad", "I don't know.", seconds=1.5),
    FakeUtterance("Ses01M_script01_1_M013", "hap", "That's great news."),
]
# IEM4 counts of FAKE_SESSION1: fru and xxx are dropped.
FAKE_SESSION1_KEPT = {"neutral": 1, "happy": 2, "angry": 1, "sad": 1}
IEM4 = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}


def write_tone(path: Path, seconds: float, sample_rate: int = 16000, channels: int = 1, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 0.01, len(t))
    samples = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), sample_rate, subtype="PCM_16")


def build_fake_iemocap(root: Path, session: str = "Session1",
                       utterances: list[FakeUtterance] = FAKE_SESSION1) -> Path:
    """Write `root/<session>/…` in the IEMOCAP layout; returns the session folder."""
    session_dir = root / session
    dialogs: dict[str, list[FakeUtterance]] = {}
    for utterance in utterances:
        dialogs.setdefault(utterance.utt_id.rsplit("_", 1)[0], []).append(utterance)
    evaluation_dir = session_dir / "dialog" / "EmoEvaluation"
    transcript_dir = session_dir / "dialog" / "transcriptions"
    evaluation_dir.mkdir(parents=True, exist_ok=True)
    transcript_dir.mkdir(parents=True, exist_ok=True)
    (evaluation_dir / "Categorical").mkdir(exist_ok=True)  # real sub-folders are not dialogs
    for dialog, items in dialogs.items():
        evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        transcript = []
        start = 1.5
        for i, utterance in enumerate(items):
            end = start + utterance.seconds
            evaluation += [
                f"[{start:.4f} - {end:.4f}]\t{utterance.utt_id}\t{utterance.label}\t[2.5000, 3.0000, 2.5000]",
                "C-E1:\tNeutral;\t()",
                "C-F1:\tFrustration; Anger;\t(annoyed)",
                "A-E3:\tval 3; act 2; dom  2;\t()",
                "",
            ]
            if utterance.transcript is not None:
                transcript.append(f"{utterance.utt_id} [{start:08.4f}-{end:08.4f}]: {utterance.transcript}")
            if i == 0:  # a non-utterance line, as in the real transcripts
                transcript.append(f"{dialog}_MXX0 [{start:08.4f}-{end:08.4f}]: [GARBAGE]")
            write_tone(session_dir / "sentences" / "wav" / dialog / f"{utterance.utt_id}.wav",
                       utterance.seconds, utterance.sample_rate, utterance.channels, seed=i)
            start = end + 0.5
        (evaluation_dir / f"{dialog}.txt").write_text("\n".join(evaluation) + "\n")
        (transcript_dir / f"{dialog}.txt").write_text("\n".join(transcript) + "\n")
        (evaluation_dir / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
        (session_dir / "sentences" / "wav" / dialog / f"._{items[0].utt_id}.wav").write_bytes(b"\x00\x05")
    return session_dir
