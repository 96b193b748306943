"""Alignment library: genuine MFA 3.4.3 TextGrids, phone classes, the frame rule, transcripts, QA/OOV.

Fast unit tests (< 5 s). The MFA command line is tested in test_align_mfa.py, the workflow in
test_align_workflow.py.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from praatio import textgrid as praat_textgrid

from emocue import align
from emocue.features import FbankOptions
from emocue.phones import ARPABET_VOWELS, PHONE_TABLES, phone_class

FIXTURES = Path(__file__).parent / "fixtures" / "mfa-3.4.3" / "sample"
MFA_TEXTGRIDS = sorted((FIXTURES / "aligned").glob("*/*.TextGrid"))


def tiers_from_text(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Independent reading of a long-format TextGrid with regular expressions (for cross-checks)."""
    text = path.read_text()
    tiers = {}
    for block in re.split(r"\n\s*item \[\d+\]:", text)[1:]:
        name = re.search(r'name = "(.*?)"', block).group(1)
        size = int(re.search(r"intervals: size = (\d+)", block).group(1))
        rows = re.findall(r'xmin = ([\d.]+) \n\s*xmax = ([\d.]+) \n\s*text = "(.*?)"', block)
        assert len(rows) == size
        tiers[name] = [(float(a), float(b), label) for a, b, label in rows]
    return tiers


# ---- genuine MFA output ------------------------------------------------------------------------
def test_fixture_has_the_genuine_mfa_sample():
    assert len(MFA_TEXTGRIDS) == 9


@pytest.mark.parametrize("path", MFA_TEXTGRIDS, ids=lambda p: p.stem)
def test_mfa_textgrid_counts_and_times_match_the_file(path):
    alignment = align.read_textgrid(path)
    expected = tiers_from_text(path)
    for tier, intervals in (("words", alignment.words), ("phones", alignment.phones)):
        assert [(i.start_s, i.end_s, i.label) for i in intervals] == expected[tier]
    # MFA writes silences as "" intervals, so both tiers tile [0, xmax]
    for intervals in (alignment.words, alignment.phones):
        assert intervals[0].start_s == 0.0 and intervals[-1].end_s == alignment.end_s
        assert all(a.end_s == b.start_s for a, b in zip(intervals, intervals[1:]))


def test_known_mfa_utterance_words_and_phones():
    alignment = align.read_textgrid(FIXTURES / "aligned" / "spk_us" / "spk_us_00.TextGrid")
    assert [w.label for w in alignment.words if w.label] == "the cat sat on the mat".split()
    assert len(alignment.phones) == 18
    assert alignment.phones[4] == align.Interval(0.37, 0.38, "T")  # a 10 ms phone
    lab = (FIXTURES / "corpus" / "spk_us" / "spk_us_00.lab").read_text().split()
    assert [w.label for w in alignment.words if w.label] == lab


def test_short_textgrid_format_reads_the_same(tmp_path):
    source = FIXTURES / "aligned" / "spk_gb" / "spk_gb_01.TextGrid"
    grid = praat_textgrid.openTextgrid(str(source), includeEmptyIntervals=True)
    short = tmp_path / "short.TextGrid"
    grid.save(str(short), format="short_textgrid", includeBlankSpaces=True)
    assert "intervals: size" not in short.read_text()  # really the short format
    assert align.read_textgrid(short) == align.read_textgrid(source)


def test_speaker_prefixed_tiers_are_found(tmp_path):
    source = FIXTURES / "aligned" / "spk_us" / "spk_us_01.TextGrid"
    renamed = re.sub(r'name = "(words|phones)"', r'name = "spk_us - \1"', source.read_text())
    path = tmp_path / "u.TextGrid"
    path.write_text(renamed)
    assert align.read_textgrid(path) == align.read_textgrid(source)


def test_textgrid_without_phone_tier_names_file_and_tiers(tmp_path):
    path = tmp_path / "bad.TextGrid"
    source = FIXTURES / "aligned" / "spk_us" / "spk_us_01.TextGrid"
    path.write_text(source.read_text().replace('"phones"', '"segments"'))
    with pytest.raises(align.AlignmentError, match=r"bad.TextGrid: no 'phones' tier .*segments"):
        align.read_textgrid(path)


def test_end_matches_mfa_alignment_analysis_durations():
    """MFA's own table gives each file's duration; the QA end mismatch must be ~0 for MFA output."""
    with open(FIXTURES / "aligned" / "alignment_analysis.csv") as handle:
        durations = {row["file"]: float(row["end"]) for row in csv.DictReader(handle)}
    utterances = [align.Utterance(p.stem, durations[p.stem]) for p in MFA_TEXTGRIDS]
    result = align.build_session_tables("S", utterances, {p.stem: p for p in MFA_TEXTGRIDS})
    assert result.qa["aligned"].all()
    assert result.qa["end_mismatch_s"].abs().max() < 1e-5
    assert result.summary["n_aligned"] == 9 and result.oov.height == 0
    phones = result.intervals.filter(tier="phone")
    expected_phones = sum(len(tiers_from_text(p)["phones"]) for p in MFA_TEXTGRIDS)
    assert phones.height == expected_phones
    speech = phones.filter(phone_class="silence").height
    assert result.qa["n_phones"].sum() == expected_phones - speech
    # every speech phone lies inside a word; silence phones never do
    assert phones.filter(pl.col("phone_class") != "silence")["word"].null_count() == 0
    assert phones.filter(phone_class="silence")["word"].null_count() == speech


def test_index_textgrids_accepts_mfa_speaker_folders_and_session_folders(tmp_path):
    index = align.index_textgrids(FIXTURES / "aligned")
    assert index["spk_gb_02"] == FIXTURES / "aligned" / "spk_gb" / "spk_gb_02.TextGrid"
    (tmp_path / "Session1").mkdir()
    (tmp_path / "Session1" / "u1.TextGrid").write_text("x")
    (tmp_path / "u9.TextGrid").write_text("x")
    assert set(align.index_textgrids(tmp_path, "Session1")) == {"u1"}
    assert set(align.index_textgrids(tmp_path, "Session2")) == {"u1", "u9"}
    (tmp_path / "Session1" / "spk").mkdir()
    (tmp_path / "Session1" / "spk" / "u1.TextGrid").write_text("x")
    with pytest.raises(align.AlignmentError, match="several TextGrids for one utterance"):
        align.index_textgrids(tmp_path, "Session1")


# ---- phone classes ------------------------------------------------------------------------------
def test_arpabet_vowels_with_and_without_stress():
    assert len(ARPABET_VOWELS) == 15
    for vowel in "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split():
        for label in (vowel, f"{vowel}0", f"{vowel}1", f"{vowel}2"):
            assert phone_class(label) == "vowel", label
    for consonant in "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split():
        assert phone_class(consonant) == "consonant", consonant
    assert len(PHONE_TABLES["arpabet"]) == 39


def test_ipa_english_mfa_classes():
    for vowel in ["ɑː", "æ", "ə", "ɚ", "aj", "aw", "ej", "ow", "ɔj", "ɪ", "ʊ", "iː", "ɛ", "ʌ"]:
        assert phone_class(vowel) == "vowel", vowel
    consonants = ["b", "tʰ", "kʰ", "dʒ", "tʃ", "ɹ", "ɫ", "ŋ", "θ", "ð", "ʃ", "ʒ", "ɾ", "ʔ", "j", "w", "n̩"]
    for consonant in consonants:
        assert phone_class(consonant) == "consonant", consonant


def test_silence_and_unknown_marks_and_other():
    for label in ["", "sil", "sp", "SIL", None, "  "]:
        assert phone_class(label) == "silence", label
    for label in ["spn", "<unk>", "SPN"]:  # speech the aligner could not pronounce: not silence (issue 11.18)
        assert phone_class(label) == "other", label
    for label in ["AX", "DX", "q", "AA7", "xyz"]:  # TIMIT-only / unknown symbols are flagged, not guessed
        assert phone_class(label) == "other", label


# ---- frame rule ----------------------------------------------------------------------------------
def test_num_frames_is_kaldi_snip_edges():
    assert align.num_frames(0.025) == 1
    assert align.num_frames(0.0249) == 0
    assert align.num_frames(1.0) == 98  # 1 + (16000 - 400) // 160
    assert align.num_frames(1.0, FbankOptions.defaults(sample_rate=8000)) == 98


def test_frame_belongs_to_interval_containing_its_centre():
    # frame t has centre t*0.01 + 0.0125
    start, end = align.interval_frames(0.0, 0.0225, 100)
    assert (start, end) == (0, 1)  # centre 0.0225 of frame 1 starts the next interval
    start, end = align.interval_frames(0.0225, 0.13, 100)
    assert (start, end) == (1, 12)  # 0.1125 (frame 10) and 0.1225 (11) in, 0.1325 (12) out


def test_phone_shorter_than_a_frame_may_own_zero_frames():
    start, end = align.interval_frames(0.37, 0.38, 200)  # the 10 ms "T" of spk_us_00
    assert end - start == 1
    start, end = align.interval_frames(0.3751, 0.3799, 200)  # no frame centre inside
    assert end - start == 0


def test_final_partial_frame_is_clipped_to_the_frame_count():
    duration = 1.0049  # 16078 samples: 98 frames; the last 78 samples form no full frame
    n_frames = align.num_frames(duration)
    assert n_frames == 98
    start, end = align.interval_frames(0.9, duration, n_frames)
    assert end == n_frames and start == 89
    start, end = align.interval_frames(0.999, duration, n_frames)  # an interval past the last centre
    assert (start, end) == (n_frames, n_frames)


def test_float_noise_on_a_centre_does_not_move_a_boundary():
    boundary = 0.1 + 0.0125  # 0.11249999999999999 in floating point
    assert align.interval_frames(boundary, 0.5, 100)[0] == 10
    assert align.interval_frames(0.0, boundary, 100)[1] == 10


def test_tiling_intervals_give_tiling_frames():
    rng = np.random.default_rng(0)
    edges = np.concatenate([[0.0], np.sort(rng.uniform(0, 2.0, 40)), [2.0]])
    n_frames = align.num_frames(2.0)
    start, end = align.interval_frames(edges[:-1], edges[1:], n_frames)
    assert start[0] == 0 and end[-1] == n_frames
    assert np.array_equal(start[1:], end[:-1]) and (end >= start).all()


# ---- transcripts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Excuse me. [LAUGHTER] I-- I don't know, okay?", "excuse me i i don't know okay"),
        ("[BREATHING] Yeah. [GARBAGE]", "yeah"),
        ("Oh my God!!! -- What are you doing?", "oh my god what are you doing"),
        ("It's twenty-five dollars, \"sir\".", "it's twenty five dollars sir"),
        ("'Cause I-I said so...", "cause i i said so"),
        ("[LAUGHTER]", ""),
        (None, ""),
    ],
)
def test_transcript_normalisation_iemocap_style(raw, expected):
    assert align.normalise_transcript(raw) == expected


def test_transcript_normalisation_upper_case_for_upper_case_dictionaries():
    assert align.normalise_transcript("I don't [LAUGHTER] know.", case="upper") == "I DON'T KNOW"
    assert align.dictionary_case(["HELLO", "WORLD", "a"]) == "upper"
    assert align.dictionary_case(align.read_dictionary_words(FIXTURES / "dictionary.dict")) == "lower"


# ---- QA and OOVs ---------------------------------------------------------------------------------
def write_textgrid(path: Path, words, phones, duration: float) -> Path:
    grid = praat_textgrid.Textgrid()
    for name, entries in (("words", words), ("phones", phones)):
        grid.addTier(praat_textgrid.IntervalTier(name, entries, 0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path


def test_oov_words_from_spn_alignments_are_counted(tmp_path):
    spn_word = write_textgrid(
        tmp_path / "a.TextGrid",
        [(0.1, 0.4, "hello"), (0.4, 0.9, "zorblax")],
        [(0.1, 0.25, "HH"), (0.25, 0.4, "AH0"), (0.4, 0.9, "spn")],
        1.0,
    )
    only_oov = write_textgrid(tmp_path / "b.TextGrid", [(0.1, 0.9, "zorblax")], [(0.1, 0.9, "spn")], 1.0)
    utterances = [align.Utterance("a", 1.0), align.Utterance("b", 1.0), align.Utterance("c", 1.0)]
    result = align.build_session_tables(
        "S", utterances, {"a": spn_word, "b": only_oov}, on_bad_input="skip"
    )
    qa = {row["utt_id"]: row for row in result.qa.iter_rows(named=True)}
    assert qa["a"]["aligned"] and qa["a"]["n_oov"] == 1 and qa["a"]["n_phones"] == 2  # spn is no speech phone
    assert not qa["b"]["aligned"] and qa["b"]["reason"] == "OOV only"
    assert not qa["c"]["aligned"] and qa["c"]["reason"] == "TextGrid missing"
    assert result.oov.to_dicts() == [{"word": "zorblax", "count": 2, "n_utterances": 2, "utt_ids": ["a", "b"]}]
    assert result.summary["not_aligned"] == {"OOV only": 1, "TextGrid missing": 1}
    assert set(result.intervals["utt_id"]) == {"a"}  # unaligned utterances have no intervals
    # praatio fills the gaps with "" intervals, so the phones tile the whole utterance
    phones = result.intervals.filter(tier="phone")
    assert phones["label"].to_list() == ["", "HH", "AH0", "spn", ""]
    assert phones["word"].to_list() == [None, "hello", "hello", "zorblax", None]
    # issue 11.18: spn is speech of an unknown word, not silence, and the utterance is flagged
    assert phones["phone_class"].to_list() == ["silence", "consonant", "vowel", "other", "silence"]
    assert qa["a"]["partly_unknown"] and qa["a"]["n_unknown_phones"] == 1
    assert not qa["b"]["partly_unknown"] and qa["b"]["n_unknown_phones"] == 1
    assert result.summary["partly_unknown_utt_ids"] == ["a"]


def test_unreadable_textgrid_fails_naming_the_file_or_is_recorded(tmp_path):
    broken = tmp_path / "u1.TextGrid"
    broken.write_text('File type = "ooTextFile"\nObject class = "TextGrid"\nxmin = 0\n')
    utterances = [align.Utterance("u1", 1.0)]
    with pytest.raises(align.AlignmentError, match=r"(?s)u1.TextGrid: not a readable TextGrid.*on_bad_input: skip"):
        align.build_session_tables("Session1", utterances, {"u1": broken})
    result = align.build_session_tables("Session1", utterances, {"u1": broken}, on_bad_input="skip")
    assert result.qa.select("aligned", "reason").row(0) == (False, "TextGrid unreadable")


def test_missing_textgrids_fail_listing_every_utterance(tmp_path):
    utterances = [align.Utterance(u, 1.0) for u in ("u1", "u2", "u3")]
    good = write_textgrid(tmp_path / "u1.TextGrid", [(0.1, 0.5, "hi")], [(0.1, 0.3, "HH"), (0.3, 0.5, "AY1")], 1.0)
    with pytest.raises(align.AlignmentError, match=r"(?s)2 utterance\(s\).*u2.*u3.*on_bad_input: skip"):
        align.build_session_tables("Session1", utterances, {"u1": good})


def test_textgrid_backend_names_a_missing_folder(tmp_path):
    manifest = pl.DataFrame({"utt_id": ["u1"], "duration_s": [1.0]})
    with pytest.raises(align.AlignmentError, match="align.textgrid_dir: folder .*nowhere does not exist"):
        align.align_from_textgrids("Session1", manifest, tmp_path / "nowhere")


def test_session_outputs_are_written_with_the_documented_columns(tmp_path):
    manifest = pl.DataFrame({"utt_id": [p.stem for p in MFA_TEXTGRIDS], "duration_s": [2.0] * 9})
    result = align.align_from_textgrids("S", manifest, FIXTURES / "aligned")
    paths = [tmp_path / name for name in ("i.parquet", "q.parquet", "o.parquet", "s.json")]
    align.write_session_outputs(result, *paths)
    assert pl.read_parquet(paths[0]).schema == pl.Schema(align.INTERVAL_SCHEMA)
    assert pl.read_parquet(paths[1]).schema == pl.Schema(align.QA_SCHEMA)
    assert pl.read_parquet(paths[2]).schema == pl.Schema(align.OOV_SCHEMA)


# ---- config: demo-only defaults (issue 11.14) -----------------------------------------------------
def test_textgrid_default_is_the_demos_only():
    from emocue.config import ConfigError, load_config

    config = load_config(Path(__file__).parents[1] / "config.yaml")
    assert config["align"]["textgrid_dir"] is None  # demo: the workflow supplies the synthesizer's folder
    from emocue.config import validate_config

    config["corpus"].update(type="manifest", manifest="m.tsv")
    with pytest.raises(ConfigError, match=r"align.textgrid_dir: .*'manifest'.*align.backend: none"):
        validate_config(config)
    config["align"]["backend"] = "none"
    validate_config(config)
