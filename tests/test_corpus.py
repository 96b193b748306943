"""Corpus readers (IEMOCAP layout, EmoDB, CSV/TSV manifest), label mapping, bad-input handling and
the whole-corpus checks run before any job. ~5 s."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
import soundfile as sf
import yaml
from conftest import TINY_CONFIG, run_snakemake
from fake_iemocap import FAKE_SESSION1, FAKE_SESSION1_KEPT, IEM4, build_fake_iemocap, write_tone

from fake_emodb import EMODB_4_CLASS, FAKE_EMODB_NAMES, build_fake_emodb

from emocue.corpus import (
    DROPPED_SCHEMA,
    MANIFEST_SCHEMA,
    BadInputError,
    CorpusError,
    build_session_manifest,
    check_corpus,
    describe_shared_speakers,
    iemocap_speaker,
    session_files,
    shared_speakers,
    write_session_manifest,
    write_session_rows,
)
from emocue.corpus.audio import probe_audio, truncation, wav_data_sizes
from emocue.corpus.emodb import SPEAKER_GENDER, TEXTS


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
        session_files(iemocap_corpus(fake_root), "Session2")


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


def break_truncated_wav(root: Path) -> tuple[str, str]:
    """Cut inside the data chunk: libsndfile would read the third that is left."""
    path = root / WAV_DIR / "Ses01M_script01_1" / "Ses01M_script01_1_F012.wav"
    declared, _ = wav_data_sizes(str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    _, present = wav_data_sizes(str(path))
    return "Ses01M_script01_1_F012", f"truncated audio: the WAV header declares {declared} data bytes, the file holds {present}"


def break_id_of_another_session(root: Path) -> tuple[str, str]:
    """A Session1 label line carrying a Session5 id (its features would overwrite Session5's)."""
    path = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    path.write_text(path.read_text().replace("Ses01F_impro01_F000", "Ses05F_impro01_F000"))
    return "Ses05F_impro01_F000", "utterance id names session 5, but it is listed in Session1"


BREAKERS = [break_missing_wav, break_corrupt_wav, break_zero_length_wav, break_too_short_wav,
            break_missing_transcript, break_label_line, break_truncated_wav]


@pytest.mark.parametrize("breaker", [*BREAKERS, break_id_of_another_session],
                         ids=lambda f: f.__name__.removeprefix("break_"))
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
    assert f"{len(BREAKERS) - 1} bad input item(s)" in message  # F012 is broken twice: one item, two reasons
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


def test_session_files_iemocap(fake_root):
    files = session_files(iemocap_corpus(fake_root), "Session1")
    names = [Path(f).name for f in files]
    assert sum(name.endswith(".wav") for name in names) == len(FAKE_SESSION1)
    assert names.count("Ses01F_impro01.txt") == 2  # EmoEvaluation + transcription
    assert not any(name.startswith(".") for name in names)
    assert all(Path(f).is_file() for f in files)


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
    assert session_files(corpus, "fold1") == [
        str(tmp_path / "audio/a.wav"), str(tmp_path / "audio/b.wav"), str(tmp_path / "audio/c.wav")]


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


# ---- audio shorter than its header says ----------------------------------------------------------


def test_truncation_compares_header_frames_for_other_formats(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, [0.0] * 1600, 16000, format="FLAC")
    assert truncation(str(path), 1600, 1600) is None
    assert truncation(str(path), 1600, 500) == "truncated audio: the header declares 1600 frames, 500 could be read"


@pytest.mark.parametrize("kept", [0.3, 0.9])
def test_flac_cut_short_is_bad_input_not_a_shorter_utterance(tmp_path, kept):
    """A real FLAC file cut short: never accepted at what is left (docs/reliability.md, Audio)."""
    import numpy as np

    whole, cut = tmp_path / "a.flac", tmp_path / "cut.flac"
    sf.write(whole, np.random.default_rng(0).normal(scale=0.1, size=16000), 16000, format="FLAC")
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * kept)])
    assert probe_audio(str(whole), 0.025)[1] is None
    info, reason = probe_audio(str(cut), 0.025)
    assert info is None and reason.startswith(("unreadable audio", "truncated audio")), reason


def test_wav_with_extra_bytes_after_the_data_chunk_is_not_truncated(tmp_path):
    path = tmp_path / "a.wav"
    write_tone(path, 0.5)
    path.write_bytes(path.read_bytes() + b"LIST\x04\x00\x00\x00abcd")  # a trailing chunk
    assert truncation(str(path), 8000, 8000) is None


# ---- identifiers that become file names ---------------------------------------------------------


def manifest_with_ids(tmp_path: Path, rows: list[tuple[str, str]]) -> dict:
    write_tone(tmp_path / "a.wav", 0.5)
    lines = ["utt_id\tpath\tspeaker\tsession\tlabel\ttranscript"]
    lines += [f"{utt_id}\ta.wav\t{speaker}\tfold1\tneu\thello" for utt_id, speaker in rows]
    (tmp_path / "m.tsv").write_text("\n".join(lines) + "\n")
    return {"type": "manifest", "root": str(tmp_path), "manifest": str(tmp_path / "m.tsv"),
            "sessions": ["fold1"], "label_map": dict(IEM4)}


def test_unsafe_ids_are_bad_input_naming_the_row(tmp_path):
    corpus = manifest_with_ids(tmp_path, [("../../evil", "spk1"), ("a/b", "spk1"), ("ok1", "spk\\x"),
                                          ("", "spk1"), ("ok2", ".hidden"), ("fine", "spk1")])
    with pytest.raises(BadInputError) as error:
        build_session_manifest(corpus, "fold1")
    message = str(error.value)
    assert "5 bad input item(s)" in message
    assert "../../evil: unsafe utt_id '../../evil': contains a path separator '/'" in message
    assert "a/b: unsafe utt_id 'a/b': contains a path separator '/'" in message
    assert "ok1: unsafe speaker 'spk\\\\x': contains a path separator '\\\\'" in message
    assert "?: utt_id is empty" in message
    assert "ok2: unsafe speaker '.hidden': starts with '.'" in message
    manifest, dropped = build_session_manifest(corpus, "fold1", on_bad_input="skip")
    assert manifest["utt_id"].to_list() == ["fine"]
    assert dropped.height == 5


# ---- whole-corpus checks before any job (manifest) -----------------------------------------------


def two_session_manifest(tmp_path: Path, rows: list[str], sessions=("fold1", "fold2")) -> dict:
    write_tone(tmp_path / "a.wav", 0.5)
    (tmp_path / "m.tsv").write_text("utt_id\tpath\tspeaker\tsession\tlabel\n" + "\n".join(rows) + "\n")
    return {"type": "manifest", "root": str(tmp_path), "manifest": str(tmp_path / "m.tsv"),
            "sessions": list(sessions), "label_map": dict(IEM4)}


def test_duplicate_ids_across_sessions_name_every_id_with_its_sessions(tmp_path):
    corpus = two_session_manifest(tmp_path, [
        "u1\ta.wav\ts1\tfold1\tneu", "u2\ta.wav\ts1\tfold1\tneu", "u1\ta.wav\ts2\tfold2\tsad",
        "u2\ta.wav\ts2\tfold2\tang", "u3\ta.wav\ts2\tfold2\tang", "u3\ta.wav\ts9\tunused\tang"])
    with pytest.raises(CorpusError) as error:
        check_corpus(corpus, [["fold2"]])
    message = str(error.value)
    assert "2 utt_id(s) occur in more than one session" in message
    assert "u1: sessions fold1, fold2" in message and "u2: sessions fold1, fold2" in message
    assert "u3" not in message  # its other row is in a session that is not configured


def test_configured_session_without_rows_lists_the_manifest_sessions(tmp_path):
    corpus = two_session_manifest(tmp_path, ["u1\ta.wav\ts1\tSession1\tneu", "u2\ta.wav\ts2\tSession4\tsad"],
                                  sessions=("Session1", "session4"))
    with pytest.raises(CorpusError, match=r"\['session4'\] match no row.*holds 'Session1', 'Session4'"):
        check_corpus(corpus, [["session4"]])


def test_numeric_manifest_sessions_match_text_values(tmp_path):
    corpus = two_session_manifest(tmp_path, ["u1\ta.wav\ts1\t1\tneu", "u2\ta.wav\ts2\t2\tsad"], sessions=("1", "2"))
    assert check_corpus(corpus, [["2"]]) == []
    assert build_session_manifest(corpus, "2")[0]["utt_id"].to_list() == ["u2"]


def test_session_with_no_label_in_label_map_stops_with_near_misses(tmp_path):
    corpus = two_session_manifest(tmp_path, ["u1\ta.wav\ts1\tfold1\tneu", "u2\ta.wav\ts2\tfold2\tNeu",
                                             "u3\ta.wav\ts2\tfold2\t Sad", "u4\ta.wav\ts2\tfold2\tangg"])
    with pytest.raises(CorpusError) as error:
        check_corpus(corpus, [["fold2"]])
    message = str(error.value)
    assert message.startswith("fold2: none of its 3 label(s) is a corpus.label_map key")
    assert "'Neu' (label_map has 'neu')" in message and "'angg' (label_map has 'ang')" in message
    assert "'Sad' (label_map has 'sad')" in message  # stripped, then case-folded
    with pytest.raises(CorpusError, match="fold2: none of its"):
        build_session_manifest(corpus, "fold2")


def test_iemocap_session_with_no_label_in_label_map_stops(fake_root):
    corpus = iemocap_corpus(fake_root)
    corpus["label_map"] = {"Neu": "neutral", "Ang": "angry"}
    with pytest.raises(CorpusError, match=r"Session1: none of its 7 label\(s\).*'neu' \(label_map has 'Neu'\)"):
        build_session_manifest(corpus, "Session1")


def test_speaker_in_training_and_test_is_found_and_described(tmp_path):
    corpus = two_session_manifest(tmp_path, ["u1\ta.wav\tanna\tfold1\tneu", "u2\ta.wav\tbob\tfold1\tsad",
                                             "u3\ta.wav\tanna\tfold2\tang", "u4\ta.wav\tcarl\tfold2\tsad"])
    warnings = check_corpus(corpus, [["fold1"], ["fold2"]])
    assert warnings == ["1 speaker(s) are in both training and test sessions, so results are "
                        "speaker-dependent: anna (test fold1; training fold2)",
                        "1 speaker(s) are in both training and test sessions, so results are "
                        "speaker-dependent: anna (test fold2; training fold1)"]
    table = pl.DataFrame({"session": ["S1", "S1", "S2", "S3"], "speaker": ["a", "b", "a", "a"]})
    shared = shared_speakers(table, ["S2"])
    assert shared.to_dicts() == [{"speaker": "a", "test_sessions": ["S2"], "training_sessions": ["S1", "S3"]}]
    assert shared_speakers(table, ["S1", "S2", "S3"]).is_empty()
    assert describe_shared_speakers(shared_speakers(table.filter(pl.col("speaker") == "b"), ["S1"])) is None


def test_session_rows_file_is_rewritten_only_when_its_rows_change(tmp_path):
    corpus = two_session_manifest(tmp_path, ["u1\ta.wav\ts1\tfold1\tneu", "u2\ta.wav\ts2\tfold2\tsad"])
    rows1, rows2 = tmp_path / "rows" / "fold1.tsv", tmp_path / "rows" / "fold2.tsv"
    assert write_session_rows(corpus, "fold1", rows1) and write_session_rows(corpus, "fold2", rows2)
    assert rows1.read_text() == "utt_id\tpath\tspeaker\tsession\tlabel\nu1\ta.wav\ts1\tfold1\tneu\n"
    manifest = Path(corpus["manifest"])
    manifest.write_text(manifest.read_text() + "u3\ta.wav\ts2\tfold2\tang\n")  # a new fold2 row
    assert not write_session_rows(corpus, "fold1", rows1)
    assert write_session_rows(corpus, "fold2", rows2)
    assert build_session_manifest({**corpus, "manifest": str(rows2)}, "fold2")[0]["utt_id"].to_list() == ["u2", "u3"]
    assert not list((tmp_path / "rows").glob(".*"))  # no partial files left


# ---- corpus.subset -------------------------------------------------------------------------------


@pytest.mark.parametrize(("subset", "kept"), [
    ("improvised", {"Ses01F_impro01_F000", "Ses01F_impro01_M000"}),
    ("scripted", {"Ses01M_script01_1_F012", "Ses01M_script01_1_M012", "Ses01M_script01_1_M013"}),
])
def test_subset_keeps_one_kind_of_dialog_and_counts_the_rest(fake_root, subset, kept):
    corpus = iemocap_corpus(fake_root) | {"subset": subset}
    manifest, dropped = build_session_manifest(corpus, "Session1")
    assert set(manifest["utt_id"]) == kept
    other = dropped.filter(pl.col("reason").str.starts_with("not in corpus.subset"))
    marker = "_impro" if subset == "improvised" else "_script"
    assert set(other["utt_id"]) == {u.utt_id for u in FAKE_SESSION1 if marker not in u.utt_id}
    assert dropped.height + manifest.height == len(FAKE_SESSION1)
    assert all(f"corpus.subset '{subset}'" in reason for reason in other["reason"])


# ---- EmoDB ---------------------------------------------------------------------------------------


def emodb_corpus(root: Path) -> dict:
    return {"type": "emodb", "root": str(root), "manifest": None, "sessions": ["03", "08"],
            "label_map": dict(EMODB_4_CLASS), "subset": "all"}


def test_emodb_reader_on_fake_tree(tmp_path):
    root = build_fake_emodb(tmp_path / "download")
    manifest, dropped = build_session_manifest(emodb_corpus(root), "03")
    rows = by_id(manifest)
    assert set(rows) == {"03a01Fa", "03a01Nc", "03a01Wa", "03b10Tc"}
    first = rows["03a01Fa"]
    assert (first["speaker"], first["gender"], first["session"], first["corpus"]) == ("03", "M", "03", "emodb")
    assert (first["raw_label"], first["label"]) == ("F", "happy")
    assert first["transcript"] == "Der Lappen liegt auf dem Eisschrank."
    assert rows["03b10Tc"]["transcript"] == TEXTS["b10"] and rows["03b10Tc"]["label"] == "sad"
    assert sorted(dropped["reason"]) == ["label 'A' not in corpus.label_map", "label 'E' not in corpus.label_map",
                                         "label 'L' not in corpus.label_map"]
    speaker08, _ = build_session_manifest(emodb_corpus(root), "08")
    assert set(speaker08["gender"]) == {"F"} and speaker08.height == 4
    assert len(session_files(emodb_corpus(root), "08")) == sum(name.startswith("08") for name in FAKE_EMODB_NAMES)


def test_emodb_speakers_and_texts_are_the_release_s():
    assert sorted(SPEAKER_GENDER) == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    assert sum(gender == "F" for gender in SPEAKER_GENDER.values()) == 5
    assert sorted(TEXTS) == ["a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"]


def test_emodb_bad_names_and_layout(tmp_path):
    root = build_fake_emodb(tmp_path / "download", ["03a01Fa", "03a03Fa", "03a01Fa_copy"])
    with pytest.raises(BadInputError) as error:
        build_session_manifest(emodb_corpus(root), "03")
    message = str(error.value)
    assert "03a03Fa: missing transcript: text code 'a03'" in message
    assert "03a01Fa_copy: file name does not follow EmoDB's" in message
    with pytest.raises(CorpusError, match=r"corpus.root: no folder .*nowhere/wav"):
        build_session_manifest(emodb_corpus(tmp_path / "nowhere"), "03")


# ---- through Snakemake: checked before any job, bad input in the corpus job ----------------------


def manifest_workflow(tmp_path: Path, rows: list[str]) -> tuple[Path, Path]:
    """A work dir with a two-session manifest corpus (audio/<n>.wav tones) and its config."""
    workdir = tmp_path / "work"
    for name in ("a", "b", "c", "d"):
        write_tone(workdir / "audio" / f"{name}.wav", 0.5)
    (workdir / "manifest.tsv").write_text("utt_id\tpath\tspeaker\tsession\tlabel\ttranscript\n" + "\n".join(rows) + "\n")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.pop("demo", None)
    config["corpus"].update(type="manifest", root=".", manifest="manifest.tsv", sessions=[1, 2])
    config["split"] = {"test_session": 2}
    config["align"] = {"backend": "textgrid", "textgrid_dir": "textgrids"}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    return workdir, configfile


@pytest.mark.slow
def test_workflow_refuses_ids_shared_by_two_sessions_before_any_job(tmp_path):
    workdir, configfile = manifest_workflow(tmp_path, [
        "u1\taudio/a.wav\tanna\t1\tneu\thi", "u2\taudio/b.wav\tbob\t1\tsad\thi",
        "u1\taudio/c.wav\tcarl\t2\tang\thi", "u4\taudio/d.wav\tdora\t2\tsad\thi"])
    proc = run_snakemake(workdir, "--cores", "1", "corpus", configfile=configfile, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1 utt_id(s) occur in more than one session" in output and "u1: sessions 1, 2" in output
    assert not (workdir / "results" / "corpus" / "1.parquet").exists()


@pytest.mark.slow
def test_workflow_corpus_job_on_truncated_audio_and_unsafe_ids(tmp_path):
    workdir, configfile = manifest_workflow(tmp_path, [
        "u1\taudio/a.wav\tanna\t1\tneu\thi", "../u2\taudio/b.wav\tanna\t1\tsad\thi",
        "u3\taudio/c.wav\tbob\t2\tang\thi", "u4\taudio/d.wav\tbob/x\t2\tsad\thi"])
    wav = workdir / "audio" / "a.wav"
    wav.write_bytes(wav.read_bytes()[:4000])
    proc = run_snakemake(workdir, "--cores", "1", "--keep-going", "corpus", configfile=configfile, check=False)
    assert proc.returncode != 0
    log = (workdir / "results" / "logs" / "corpus_session" / "1.log").read_text()
    assert "truncated audio: the WAV header declares 16000 data bytes, the file holds 3956" in log
    assert "unsafe utt_id '../u2': contains a path separator '/'" in log
    run_snakemake(workdir, "--cores", "1", "corpus", configfile=configfile, config={"on_bad_input": "skip"})
    dropped = pl.concat([pl.read_parquet(workdir / "results" / "corpus" / f"{s}.dropped.parquet") for s in "12"])
    assert sorted(dropped["utt_id"]) == ["../u2", "u1", "u4"]
    assert "unsafe speaker 'bob/x'" in dropped.filter(pl.col("utt_id") == "u4")["reason"][0]
    assert pl.read_parquet(workdir / "results" / "corpus" / "2.parquet")["utt_id"].to_list() == ["u3"]


def test_unsafe_iemocap_id_is_bad_input_and_its_wav_is_not_looked_for(fake_root):
    path = fake_root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    path.write_text(path.read_text().replace("Ses01F_impro01_F000", "Ses01F_impro01/../../../x_F000"))
    with pytest.raises(BadInputError) as error:
        build_session_manifest(iemocap_corpus(fake_root), "Session1")
    message = str(error.value)
    assert "unsafe utt_id 'Ses01F_impro01/../../../x_F000': contains a path separator '/'" in message
    assert "missing audio file" not in message and f"[{path}]" in message
