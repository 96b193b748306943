"""IEMOCAP_full_release layout (also the generated demo corpus): `<root>/<SessionN>/dialog/
EmoEvaluation/<dialog>.txt` labels, `dialog/transcriptions/<dialog>.txt` texts and
`sentences/wav/<dialog>/<utt_id>.wav` audio."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from emocue.corpus.records import Candidate, CorpusError, visible_dirs, visible_files
from emocue.identifiers import check_identifier, child_path

log = logging.getLogger(__name__)

# `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`
EVALUATION_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[")
# `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`
TRANSCRIPT_LINE = re.compile(r"^(\S+)\s+\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]:\s?(.*)$")
# Session number from the dialog prefix, speaker gender from the letter of the *last* id part:
# in `Ses01M_script01_1_F012` the male actor wears the markers but the female one speaks.
IEMOCAP_UTT_ID = re.compile(r"^Ses(\d+)[FM]_.+_([FM])\d+$")
SESSION_FOLDER = re.compile(r"^Session(\d+)$")
# corpus.subset -> the marker its dialog names carry (`Ses01F_impro01`, `Ses01M_script01_1`).
SUBSET_MARKERS = {"improvised": "_impro", "scripted": "_script"}


def _iemocap_wavs(wav_root: Path) -> list[Path]:
    """The sentence wavs under `<session>/sentences/wav/<dialog>/`."""
    return [wav for dialog in visible_dirs(wav_root) for wav in visible_files(dialog, ".wav")]


def iemocap_session_files(session_dir: Path) -> list[Path]:
    """The wavs, EmoEvaluation and transcription files of one IEMOCAP session folder."""
    wavs = _iemocap_wavs(session_dir / "sentences" / "wav")
    evaluations = visible_files(session_dir / "dialog" / "EmoEvaluation", ".txt")
    transcripts = visible_files(session_dir / "dialog" / "transcriptions", ".txt")
    return evaluations + transcripts + wavs


def iemocap_speaker(utt_id: str) -> tuple[str, str] | None:
    """(speaker, gender) of an IEMOCAP utterance id, e.g. `Ses01M_script01_1_F012` -> (`Ses01F`, `F`)."""
    match = IEMOCAP_UTT_ID.match(utt_id)
    if not match:
        return None
    session_number, gender = match.groups()
    return f"Ses{session_number}{gender}", gender


def dialog_subset(utt_id: str) -> str | None:
    """`improvised` or `scripted`, as the utterance's dialog name says; None when it says neither."""
    dialog = utt_id.rsplit("_", 1)[0]
    return next((subset for subset, marker in SUBSET_MARKERS.items() if marker in dialog), None)


def parse_transcripts(path: Path) -> dict[str, str]:
    """utt_id -> text of one transcription file; lines of non-utterances (ids with XX) are skipped."""
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRANSCRIPT_LINE.match(line.strip())
        if match and "XX" not in match.group(1):
            texts[match.group(1)] = match.group(4).strip()
    return texts


def parse_evaluation(path: Path) -> Iterator[tuple[int, str, re.Match | None]]:
    """(line number, line, match) of each utterance line in an EmoEvaluation file.

    Header (`%`), annotator (`C-E1:`, `A-F1:` …) and blank lines are skipped; a line that starts
    like an utterance line (`[`) but does not parse is yielded with match None.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.startswith("["):
            yield number, line, EVALUATION_LINE.match(line)


def iemocap_session_dir(root: Path, session: str) -> Path:
    session_dir = root / session
    if not session_dir.is_dir():
        raise CorpusError(
            f"corpus.root: no session folder {session_dir} (expected the IEMOCAP_full_release layout "
            f"`<root>/{session}/dialog/EmoEvaluation`); fix corpus.root or corpus.sessions"
        )
    return session_dir


def _identity_problem(utt_id: str, session: str, where: str) -> tuple[tuple[str, str] | None, str | None]:
    """(speaker, gender) of the id, or the reason it cannot be this session's utterance. The id
    embeds the session, which is what keeps ids unique across sessions (issue: a Session1 row with
    a Session5 id would let one session's features overwrite the other's)."""
    identity = iemocap_speaker(utt_id)
    if identity is None:
        return None, f"utterance id does not follow the IEMOCAP pattern SesNN[FM]_<dialog>_[FM]NNN ({where})"
    folder = SESSION_FOLDER.match(session)
    id_session = int(IEMOCAP_UTT_ID.match(utt_id).group(1))
    if folder and int(folder.group(1)) != id_session:
        return identity, f"utterance id names session {id_session}, but it is listed in {session} ({where})"
    return identity, None


def read_iemocap_session(root: Path, session: str, subset: str = "all") -> list[Candidate]:
    """Candidates of one session of an IEMOCAP_full_release tree (`root/<session>/...`);
    `subset` (corpus.subset) excludes the other kind of dialog, counted as dropped."""
    session_dir = iemocap_session_dir(root, session)
    wav_root = session_dir / "sentences" / "wav"
    transcript_dir = session_dir / "dialog" / "transcriptions"
    candidates: list[Candidate] = []
    seen: dict[str, str] = {}
    for evaluation in visible_files(session_dir / "dialog" / "EmoEvaluation", ".txt"):
        transcript_file = transcript_dir / evaluation.name
        transcripts = parse_transcripts(transcript_file) if transcript_file.is_file() else {}
        for number, line, match in parse_evaluation(evaluation):
            where = f"{evaluation}:{number}"
            if match is None:
                candidates.append(Candidate(None, None, str(evaluation),
                                            problems=[f"unparseable EmoEvaluation line {where}: {line!r}"]))
                continue
            start, end, utt_id, raw_label = match.groups()
            dialog = utt_id.rsplit("_", 1)[0]
            # An unsafe id is reported by the corpus checks; its wav is then not looked for.
            wav = evaluation if check_identifier(utt_id) else child_path(wav_root, dialog, f"{utt_id}.wav")
            candidate = Candidate(utt_id, raw_label, str(wav),
                                  transcript=transcripts.get(utt_id) or None,
                                  start_s=float(start), end_s=float(end))
            identity, problem = _identity_problem(utt_id, session, where)
            if identity is not None:
                candidate.speaker, candidate.gender = identity
            if problem:
                candidate.problems.append(problem)
            if candidate.transcript is None:
                candidate.problems.append(
                    "missing transcript" + ("" if transcript_file.is_file() else f" (no file {transcript_file})"))
            if utt_id in seen:
                candidate.problems.append(f"duplicate utt_id (first at {seen[utt_id]})")
            seen.setdefault(utt_id, where)
            if subset != "all" and dialog_subset(utt_id) != subset:
                kind = dialog_subset(utt_id) or "neither improvised nor scripted"
                candidate.excluded = f"not in corpus.subset {subset!r} (dialog {dialog}: {kind})"
            candidates.append(candidate)
    _report_unlabelled_wavs(wav_root, seen, session)
    return candidates


def _report_unlabelled_wavs(wav_root: Path, labelled: dict[str, str], session: str) -> None:
    unlabelled = [wav.name for wav in _iemocap_wavs(wav_root) if wav.stem not in labelled]
    if unlabelled:  # IEMOCAP labels every sentence wav; extra files are listed, not used
        log.warning("%s: %d wav file(s) have no EmoEvaluation line and are not used: %s",
                    session, len(unlabelled), ", ".join(unlabelled[:20]) + (" …" if len(unlabelled) > 20 else ""))
