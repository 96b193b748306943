"""Berlin Database of Emotional Speech (EmoDB; Burkhardt et al., Interspeech 2005).

Layout: the release's `download/` folder is corpus.root; `wav/<name>.wav` (16 kHz mono), where a
name like `03a01Fa` is speaker `03`, text `a01`, emotion `F`, version `a`. Sessions are speakers
(`corpus.sessions: ["03", "08", ...]`), so `split.scheme: loso` is leave-one-speaker-out. The raw
label is the emotion letter (German initial): map the 4-class subset with
`label_map: {N: neutral, F: happy, W: angry, T: sad}` (339 of the 535 utterances).
"""

from __future__ import annotations

import re
from pathlib import Path

from emocue.corpus.records import Candidate, CorpusError, visible_files

EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")
SPEAKER = re.compile(r"^\d\d$")

# Emotion letters (German names' initials).
EMOTIONS = {
    "W": "anger (Wut)",
    "L": "boredom (Langeweile)",
    "E": "disgust (Ekel)",
    "A": "fear (Angst)",
    "F": "happiness (Freude)",
    "T": "sadness (Trauer)",
    "N": "neutral",
}

# Speaker -> gender, from the database's documentation (Burkhardt et al. 2005, and the speaker
# list of emodb.bilderbar.info); the release's erklaerung.txt lists only listener scores.
SPEAKER_GENDER = {
    "03": "M", "08": "F", "09": "F", "10": "M", "11": "M",
    "12": "M", "13": "F", "14": "F", "15": "M", "16": "F",
}

# The ten sentences (text code -> text) as the speakers read them. a05 follows the release's
# syllable labels (silb/*a05*.silb: "das schwar ze blatt pa pier ..."), which say "Blatt Papier"
# where the database's web page prints "Stück Papier".
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Blatt Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


def emodb_wav_dir(root: Path) -> Path:
    wav_dir = root / "wav"
    if not wav_dir.is_dir():
        raise CorpusError(f"corpus.root: no folder {wav_dir} (expected EmoDB's download/ folder, "
                          "holding wav/03a01Fa.wav …); fix corpus.root")
    return wav_dir


def emodb_session_files(root: Path, session: str) -> list[Path]:
    """The speaker's wav files (`wav/<speaker>*.wav`)."""
    return [wav for wav in visible_files(emodb_wav_dir(root), ".wav") if wav.name.startswith(session)]


def read_emodb_session(root: Path, session: str) -> list[Candidate]:
    """Candidates of one speaker: one per wav file whose name starts with the speaker's number."""
    if not SPEAKER.match(session):
        raise CorpusError(f"corpus.sessions: EmoDB sessions are its two-digit speaker numbers "
                          f"({', '.join(SPEAKER_GENDER)}); got {session!r}")
    candidates = []
    for wav in emodb_session_files(root, session):
        match = EMODB_NAME.match(wav.stem)
        if match is None:
            candidates.append(Candidate(wav.stem, None, str(wav), problems=[
                "file name does not follow EmoDB's <speaker NN><text a01..b10><emotion letter><version>.wav"]))
            continue
        speaker, text, emotion, _version = match.groups()
        candidate = Candidate(wav.stem, emotion, str(wav), speaker=speaker,
                              gender=SPEAKER_GENDER.get(speaker), transcript=TEXTS.get(text))
        if candidate.transcript is None:
            candidate.problems.append(f"missing transcript: text code {text!r} is not one of EmoDB's {list(TEXTS)}")
        candidates.append(candidate)
    return candidates
