"""A small fake EmoDB `download/` tree in the release's exact format, for reader tests.

The release: `wav/<speaker><text><emotion><version>.wav` (16 kHz mono PCM), e.g. `03a01Fa.wav`,
beside `lablaut/`, `silb/`, `labsilb/` and `erkennung.txt`/`erklaerung.txt` (not read by the
corpus reader). Generated tones stand in for the speech; the corpus itself is never committed.
"""

from __future__ import annotations

from pathlib import Path

from fake_iemocap import write_tone

# speaker, text, emotion, version: two speakers, every emotion letter once or more.
FAKE_EMODB_NAMES = [
    "03a01Fa", "03a01Nc", "03a01Wa", "03b10Tc", "03a02La", "03a04Ad", "03b01Eb",
    "08a01Na", "08a05Fe", "08b09Wb", "08b02Ta", "08a07Lb",
]
EMODB_4_CLASS = {"N": "neutral", "F": "happy", "W": "angry", "T": "sad"}


def build_fake_emodb(root: Path, names: list[str] = FAKE_EMODB_NAMES) -> Path:
    """Write `root/wav/*.wav` (plus the release's other folders and files); returns root."""
    for index, name in enumerate(names):
        write_tone(root / "wav" / f"{name}.wav", 0.6 + 0.05 * index, seed=index)
        (root / "silb").mkdir(parents=True, exist_ok=True)
        (root / "silb" / f"{name}.silb").write_text("0.080080\tder\n0.244195\tla\n")
    for folder in ("lablaut", "labsilb"):
        (root / folder).mkdir(exist_ok=True)
    (root / "erkennung.txt").write_text("Satz\terkannt\n03a01Fa.wav\t90,00\n", encoding="latin-1")
    return root
