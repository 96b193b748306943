"""Corpus readers (IEMOCAP layout, CSV/TSV manifest), label mapping and bad-input handling. ~3 s."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
import soundfile as sf
from fake_iemocap import FAKE_SESSION1, FAKE_SESSION1_KEPT, IEM4, build_fake_iemocap, write_tone

from emocue.corpus import (
    DROPPED_SCHEMA,
    MANIFEST_SCHEMA,
    BadInputError,
    CorpusError,
    build_session_manifest,
    iemocap_speaker,
    session_input_files,
    write_session_manifest,
)


def iemocap_corpus(root: Path, corpus_type: str = "iemocap") -> dict:
    return {"type": corpus_type, "root": str(root), "manifest": None, "sessions": ["Session1", "Session2"],
            "label_map": dict(IEM4), "classes": ["neutral", "happy", "angry", "sad"]}


@pytest.fixture
def fake_root(tmp_path) -> Path:
    build_fake_iemocap(tmp_path / "IEMOCAP_full_release")
    return tmp_path / "IEMOCAP_full_release"


def by_id(table: pl.DataFrame) -> dict[str, dict]:
    return {row["utt_id"]: row for row in table.iter_rows(named=True)}


@pytest.mark.parametrize(("utt_id", "speaker", "gender"), [
    ("Ses01F_impro01_F000", "Ses01F", "F"),
    ("Ses01F_impro01_M000", "Ses01M", "M"),
    ("Ses01M_script01_1_F012", "Ses01F", "F"),  # the last part decides, not the dialog prefix
    ("Ses05F_script02_2b_F010", "Ses05F", "F"),
    ("Ses05M_script02_2b_M010", "Ses05M", "M"),
])
def test_iemocap_speaker_from_last_id_part(utt_id, speaker, gender):
    assert iemocap_speaker(utt_id) == (speaker, gender)


def test_iemocap_speaker_rejects_other_ids():
    assert iemocap_speaker("Ses01F_impro01_MXX0") is None
    assert iemocap_speaker("speaker1_utt3") is None


def test_iemocap_reader_on_fake_tree(fake_root):
    manifest, dropped = build_session_manifest(iemocap_corpus(fake_root), "Session1")
    assert dict(manifest.schema) == MANIFEST_SCHEMA
    assert dict(dropped.schema) == DROPPED_SCHEMA
    rows = by_id(manifest)
    assert set(rows) == {"Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01M_script01_1_F012",
                         "Ses01M_script01_1_M012", "Ses01M_script01_1_M013"}
    assert manifest.group_by("label").len().sort("label").to_dicts() == sorted(
        ({"label": k, "len": v} for k, v in FAKE_SESSION1_KEPT.items()), key=lambda d: d["label"])
    first = rows["Ses01F_impro01_F000"]
    assert first["corpus"] == "iemocap" and first["session"] == "Session1"
    assert first["speaker"] == "Ses01F" and first["gender"] == "F"
    assert first["raw_label"] == "neu" and first["label"] == "neutral"
    assert first["transcript"] == "Excuse me."
    assert first["start_s"] == pytest.approx(1.5) and first["end_s"] == pytest.approx(2.5)
    assert first["duration_s"] == pytest.approx(1.0)
    assert Path(first["audio_path"]).is_absolute()
    assert Path(first["audio_path"]).parts[-3:] == ("wav", "Ses01F_impro01", "Ses01F_impro01_F000.wav")
    excited = rows["Ses01F_impro01_M000"]
    assert (excited["raw_label"], excited["label"], excited["speaker"]) == ("exc", "happy", "Ses01M")
    assert excited["transcript"] == "Do you have your forms [LAUGHTER]?"  # raw text kept
    script = rows["Ses01M_script01_1_F012"]  # male-prefixed dialog, female speaker, 44.1 kHz stereo
    assert (script["speaker"], script["gender"]) == ("Ses01F", "F")
    assert (script["sample_rate"], script["num_channels"]) == (44100, 2)
    assert rows["Ses01M_script01_1_M012"]["duration_s"] == pytest.approx(1.5)
    # Labels outside the map are dropped and counted, whatever on_bad_input says.
    assert sorted(dropped["reason"].to_list()) == ["label 'fru' not in corpus.label_map",
                                                  "label 'xxx' not in corpus.label_map"]
    assert set(dropped["utt_id"]) == {"Ses01F_impro01_F001", "Ses01F_impro01_M001"}
    assert set(dropped["stage"]) == {"corpus"}


def test_demo_corpus_type_reads_the_same_layout(fake_root):
    manifest, _ = build_session_manifest(iemocap_corpus(fake_root, "demo"), "Session1")
    assert manifest.height == sum(FAKE_SESSION1_KEPT.values())
    assert set(manifest["corpus"]) == {"demo"}


def test_label_map_decides_what_is_kept(fake_root):
    corpus = iemocap_corpus(fake_root)
    corpus["label_map"] = {"neu": "neutral", "fru": "angry", "ang": "angry"}  # no happy/sad, fru kept
    manifest, dropped = build_session_manifest(corpus, "Session1")
    assert sorted(manifest["raw_label"].to_list()) == ["ang", "fru", "neu"]
    assert by_id(manifest)["Ses01F_impro01_F001"]["label"] == "angry"
    counts = dict(dropped.group_by("reason").len().iter_rows())
    assert counts == {"label 'exc' not in corpus.label_map": 1, "label 'hap' not in corpus.label_map": 1,
                      "label 'sad' not in corpus.label_map": 1, "label 'xxx' not in corpus.label_map": 1}


def test_missing_session_folder_names_the_key(fake_root):
    with pytest.raises(CorpusError, match=r"corpus.root.*Session2"):
        build_session_manifest(iemocap_corpus(fake_root), "Session2")
    with pytest.raises(CorpusError, match="corpus.root"):
        session_input_files({"corpus": iemocap_corpus(fake_root)}, "Session2")


# ---- bad input: every kind, alone and all together ---------------------------------------------
WAV_DIR = Path("Session1/sentences/wav")


def break_missing_wav(root: Path) -> tuple[str, str]:
    (root / WAV_DIR / "Ses01F_impro01" / "Ses01F_impro01_F000.wav").unlink()
    return "Ses01F_impro01_F000", "missing audio file"


def break_corrupt_wav(root: Path) -> tuple[str, str]:
    (root / WAV_DIR / "Ses01F_impro01" / "Ses01F_impro01_M000.wav").write_bytes(b"RIFF\x00garbage" * 10)
    return "Ses01F_impro01_M000", "unreadable audio"


def break_zero_length_wav(root: Path) -> tuple[str, str]:
    path = root / WAV_DIR / "Ses01M_script01_1" / "Ses01M_script01_1_M012.wav"
    sf.write(path, [], 16000, subtype="PCM_16")
    return "Ses01M_script01_1_M012", "zero-length audio"


def break_too_short_wav(root: Path) -> tuple[str, str]:
    write_tone(root / WAV_DIR / "Ses01M_script01_1" / "Ses01M_script01_1_M013.wav", 0.01)
    return "Ses01M_script01_1_M013", "audio too short for one feature frame"


def break_missing_transcript(root: Path) -> tuple[str, str]:
    path = root / "Session1/dialog/transcriptions/Ses01M_script01_1.txt"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if "F012" not in line))
    return "Ses01M_script01_1_F012", "missing transcript"


def break_label_line(root: Path) -> tuple[str, str]:
    path = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    path.write_text(path.read_text() + "[12.0 - oops]\tSes01F_impro01_F009\tneu\n")
    return None, "unparseable EmoEvaluation line"


BREAKERS = [break_missing_wav, break_corrupt_wav, break_zero_length_wav, break_too_short_wav,
            break_missing_transcript, break_label_line]


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__.removeprefix("break_"))
def test_each_bad_input_kind_fails_then_skips(fake_root, breaker):
    utt_id, reason = breaker(fake_root)
    corpus = iemocap_corpus(fake_root)
    with pytest.raises(BadInputError) as error:
        build_session_manifest(corpus, "Session1", on_bad_input="fail")
    message = str(error.value)
    assert "1 bad input item" in message and reason in message and "on_bad_input: skip" in message
    assert (utt_id or "EmoEvaluation") in message
    manifest, dropped = build_session_manifest(corpus, "Session1", on_bad_input="skip")
    bad = dropped.filter(~pl.col("reason").str.starts_with("label "))
    assert bad.height == 1 and reason in bad["reason"][0]
    assert bad["utt_id"][0] == utt_id and bad["path"][0]
    assert utt_id not in manifest["utt_id"].to_list()
    assert manifest.height == sum(FAKE_SESSION1_KEPT.values()) - (utt_id is not None)


def test_fail_lists_every_bad_item_at_once(fake_root):
    expected = [breaker(fake_root) for breaker in BREAKERS]
    with pytest.raises(BadInputError) as error:
        build_session_manifest(iemocap_corpus(fake_root), "Session1")
    message = str(error.value)
    assert f"{len(BREAKERS)} bad input item(s)" in message
    for utt_id, reason in expected:
        assert any(reason in line and (utt_id or "?") in line for line in message.splitlines()), (utt_id, reason)


def test_skip_writes_manifest_and_dropped_tables(fake_root, tmp_path):
    break_missing_wav(fake_root)
    write_session_manifest(iemocap_corpus(fake_root), "Session1", "skip", 0.025,
                           tmp_path / "out" / "Session1.parquet", tmp_path / "out" / "Session1.dropped.parquet")
    manifest = pl.read_parquet(tmp_path / "out" / "Session1.parquet")
    dropped = pl.read_parquet(tmp_path / "out" / "Session1.dropped.parquet")
    assert manifest.height == sum(FAKE_SESSION1_KEPT.values()) - 1
    assert dropped.height == 3  # fru, xxx, missing wav
    assert dict(dropped.schema) == DROPPED_SCHEMA


# ---- input files for Snakemake -----------------------------------------------------------------


def test_session_input_files_iemocap(fake_root):
    files = session_input_files({"corpus": iemocap_corpus(fake_root)}, "Session1")
    names = [Path(f).name for f in files]
    assert sum(name.endswith(".wav") for name in names) == len(FAKE_SESSION1)
    assert names.count("Ses01F_impro01.txt") == 2  # EmoEvaluation + transcription
    assert not any(name.startswith(".") for name in names)
    assert all(Path(f).is_file() for f in files)


def test_session_input_files_demo_is_the_generator_summary(fake_root):
    config = {"corpus": iemocap_corpus(fake_root, "demo")}
    assert session_input_files(config, "Session1", "out") == ["out/demo/Session1.json"]


# ---- manifest reader ---------------------------------------------------------------------------


def write_manifest(tmp_path: Path, separator: str, suffix: str, transcripts: bool = True) -> dict:
    audio = tmp_path / "audio"
    for name, seconds in [("a", 1.0), ("b", 0.5), ("c", 0.8), ("d", 0.6)]:
        write_tone(audio / f"{name}.wav", seconds, sample_rate=8000 if name == "c" else 16000)
    header = ["utt_id", "path", "speaker", "session", "label"] + (["transcript"] if transcripts else [])
    rows = [["u1", "audio/a.wav", "spk1", "fold1", "neu"], ["u2", "audio/b.wav", "spk2", "fold1", "exc"],
            ["u3", "audio/c.wav", "spk1", "fold1", "fru"], ["u4", "audio/d.wav", "spk3", "fold2", "sad"]]
    if transcripts:
        for row, text in zip(rows, ["hello there", "oh, wow", "no", "goodbye"]):
            row.append(text)
    path = tmp_path / f"manifest{suffix}"
    with open(path, "w", newline="") as handle:
        csv.writer(handle, delimiter=separator, lineterminator="\n").writerows([header, *rows])
    return {"type": "manifest", "root": str(tmp_path), "manifest": str(path), "sessions": ["fold1", "fold2"],
            "label_map": dict(IEM4), "classes": ["neutral", "happy", "angry", "sad"]}


@pytest.mark.parametrize(("separator", "suffix"), [(",", ".csv"), ("\t", ".tsv"), ("\t", ".txt")],
                         ids=["csv", "tsv", "sniffed"])
def test_manifest_reader(tmp_path, separator, suffix):
    corpus = write_manifest(tmp_path, separator, suffix)
    manifest, dropped = build_session_manifest(corpus, "fold1")
    rows = by_id(manifest)
    assert set(rows) == {"u1", "u2"}
    assert rows["u2"]["label"] == "happy" and rows["u2"]["raw_label"] == "exc"
    assert rows["u1"]["transcript"] == "hello there" and rows["u2"]["transcript"] == "oh, wow"
    assert rows["u1"]["speaker"] == "spk1" and rows["u1"]["gender"] is None
    assert rows["u1"]["corpus"] == "manifest" and rows["u1"]["start_s"] is None
    assert rows["u2"]["duration_s"] == pytest.approx(0.5)
    assert dropped.to_dicts() == [{"utt_id": "u3", "session": "fold1", "stage": "corpus",
                                   "reason": "label 'fru' not in corpus.label_map", "path": str(tmp_path / "audio/c.wav")}]
    assert build_session_manifest(corpus, "fold2")[0]["utt_id"].to_list() == ["u4"]
    assert session_input_files({"corpus": corpus}, "fold1") == [
        corpus["manifest"], str(tmp_path / "audio/a.wav"), str(tmp_path / "audio/b.wav"),
        str(tmp_path / "audio/c.wav")]


def test_manifest_without_transcript_column_keeps_null_transcripts(tmp_path):
    corpus = write_manifest(tmp_path, ",", ".csv", transcripts=False)
    manifest, _ = build_session_manifest(corpus, "fold1")
    assert manifest["transcript"].to_list() == [None, None]


def test_manifest_bad_rows(tmp_path):
    corpus = write_manifest(tmp_path, ",", ".csv")
    path = Path(corpus["manifest"])
    path.write_text(path.read_text() + "u5,audio/missing.wav,spk1,fold1,ang,x\nu1,audio/a.wav,spk1,fold1,neu,\n")
    with pytest.raises(BadInputError) as error:
        build_session_manifest(corpus, "fold1")
    assert "u5: missing audio file" in str(error.value)
    assert "u1: duplicate utt_id; missing transcript" in str(error.value)
    manifest, dropped = build_session_manifest(corpus, "fold1", on_bad_input="skip")
    assert manifest["utt_id"].to_list() == ["u1", "u2"]
    assert dropped.height == 3


def test_manifest_missing_column_names_it(tmp_path):
    corpus = write_manifest(tmp_path, ",", ".csv")
    path = Path(corpus["manifest"])
    path.write_text(path.read_text().replace("speaker", "talker"))
    with pytest.raises(CorpusError, match=r"corpus.manifest.*\['speaker'\]"):
        build_session_manifest(corpus, "fold1")


def test_manifest_unparseable_names_the_file(tmp_path):
    corpus = write_manifest(tmp_path, ",", ".csv")
    path = Path(corpus["manifest"])
    path.write_text(path.read_text() + "u9,audio/a.wav,spk1,fold1,neu,too,many,fields\n")
    with pytest.raises(CorpusError, match=r"corpus.manifest: cannot read .*manifest.csv"):
        build_session_manifest(corpus, "fold1")


# ---- the generated demo corpus -----------------------------------------------------------------


def test_iemocap_reader_reads_a_generated_demo_session(tmp_path):
    demo = pytest.importorskip("emocue.demo")
    summary = demo.generate_session(tmp_path / "IEMOCAP_demo", tmp_path / "textgrids", "Session3", seed=5,
                                    dialogs=1, utterances_per_dialog=8)
    corpus = iemocap_corpus(tmp_path / "IEMOCAP_demo", "demo")
    manifest, dropped = build_session_manifest(corpus, "Session3")
    assert manifest.height + dropped.height == summary["n_utterances"] == 8
    assert dict(manifest.group_by("raw_label").len().iter_rows()) == {
        raw: n for raw, n in summary["raw_labels"].items() if raw in IEM4}
    assert dropped["reason"].str.starts_with("label ").all()
    assert set(manifest["speaker"]) <= {"Ses03F", "Ses03M"}
    assert manifest["transcript"].null_count() == 0
    assert (manifest["sample_rate"] == 16000).all() and (manifest["num_channels"] == 1).all()
