"""The `emodb` alignment backend on a fake EmoDB tree in the exact lablaut format, and German SAMPA.

The real labels are never committed; the fake files copy their layout byte for byte: xlabel header,
`#`, then `<time> -1 <label>[<TAB>marks]` with start times, marks-only lines and the final `.`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from emocue import align
from emocue.phones import SAMPA_GERMAN_CONSONANTS, SAMPA_GERMAN_VOWELS, phone_class

HEADER = ("signal wochenAO\ntype 0\ncomment created using xlabel Wed Apr 26 12:59:18 2000\n"
          "font -misc-*-bold-*-*-*-15-*-*-*-*-*-*-*\nseparator ;\nnfields 1\n#\n")
# "der Lappen ..." as EmoDB labels it: closure _t, release !t + aspiration mark, marks-only lines,
# an accent digit, a glued mark (I+nas), a bare release (!), an aspiration phase (kasp), a long
# consonant (NN).
LINES = [
    (0.080109, "_t"), (0.119160, "!t\t+asp"), (0.144370, "E6"), (0.244223, "l"), (0.348031, "a\t\t2"),
    (0.427091, "p"), (0.509149, "!p\t+na"), (0.551660, "m\t+sil"), (0.602575, "I+nas"), (0.698978, "\t+hoe"),
    (0.768183, "k"), (0.802292, "!"), (0.846286, "kasp"), (0.865565, "NN    +lar"), (0.903133, "\t-lar"),
    (0.938230, "X"), (0.981748, "aI\t+lar\t3"), (1.044033, "("), (1.081601, "U"), (1.841390, "."),
]


SYLLABLES = [(0.080080, "der"), (0.244195, "la"), (0.427094, "pen"), (0.602575, "liegt"), (0.865570, "auf"),
             (0.938230, "dem"), (0.981748, "eis"), (1.044033, "schrank"), (1.841390, ".")]
TRANSCRIPT = "Der Lappen liegt auf dem Eisschrank."


def lablaut_text(lines) -> str:
    return HEADER + "".join(f"{time:12.6f}   -1 {label}\n" for time, label in lines)


@pytest.fixture
def emodb_tree(tmp_path) -> Path:
    labels = tmp_path / "download" / "lablaut"
    labels.mkdir(parents=True)
    (labels / "03a01Faxx.lablaut").write_text(lablaut_text(LINES), encoding="latin-1")
    (labels / "03a01Nc.lablaut").write_text(lablaut_text(LINES[:3] + [(0.3, ".")]), encoding="latin-1")
    (labels / "03a01Ncxx.lablaut").write_text(lablaut_text(LINES[:5] + [(0.4, ".")]), encoding="latin-1")
    (labels / "08a01Abxx.lablaut").write_text(HEADER, encoding="latin-1")  # as two real files: header only
    # silb/: syllable start times (no header), "la pen" for Lappen, the final "." at the end of speech
    (labels.parent / "silb").mkdir()
    (labels.parent / "silb" / "03a01Fa.silb").write_text(
        "".join(f"{time:.6f}\t{text}\n" for time, text in SYLLABLES), encoding="latin-1")
    return labels


def test_lablaut_phones_start_at_their_time_and_plosive_phases_merge(emodb_tree):
    alignment = align.read_lablaut(emodb_tree / "03a01Faxx.lablaut", duration_s=2.0)
    phones = [(round(p.start_s, 6), round(p.end_s, 6), p.label) for p in alignment.phones]
    assert phones == [
        (0.0, 0.080109, ""), (0.080109, 0.144370, "t"), (0.144370, 0.244223, "E6"), (0.244223, 0.348031, "l"),
        (0.348031, 0.427091, "a"), (0.427091, 0.551660, "p"), (0.551660, 0.602575, "m"),
        (0.602575, 0.768183, "I"),  # the marks-only line (+hoe) does not split the vowel
        (0.768183, 0.865565, "k"), (0.865565, 0.938230, "N"), (0.938230, 0.981748, "R"),
        (0.981748, 1.044033, "aI"), (1.044033, 1.081601, "("), (1.081601, 1.841390, "U"), (1.841390, 2.0, ""),
    ]
    assert alignment.words == () and alignment.phone_set == "sampa_german" and alignment.end_s == 2.0


def test_xx_file_wins_and_every_label_is_classed(emodb_tree):
    files = align.index_label_files(emodb_tree)
    assert files == {"03a01Fa": emodb_tree / "03a01Faxx.lablaut", "03a01Nc": emodb_tree / "03a01Ncxx.lablaut",
                     "08a01Ab": emodb_tree / "08a01Abxx.lablaut"}
    census = align.label_census([files["03a01Fa"]])
    assert census["unclassified"] == {"(": 1}  # the only label with no SAMPA reading here
    assert census["classes"] == {"consonant": 11, "vowel": 5, "other": 1}  # labels, before merging


def test_emodb_backend_tables_and_missing_labels(emodb_tree):
    manifest = pl.DataFrame({"utt_id": ["03a01Fa", "03a01Nc", "03a02Wb", "08a01Ab"],
                             "duration_s": [2.0, 0.5, 1.0, 1.5], "transcript": [TRANSCRIPT] * 4})
    with pytest.raises(align.AlignmentError, match="03a02Wb: no EmoDB label file"):
        align.align_from_emodb_labels("03", manifest, emodb_tree)
    with pytest.raises(align.AlignmentError, match="align.emodb_label_dir: folder .*missing does not exist"):
        align.align_from_emodb_labels("03", manifest, emodb_tree / "missing")
    result = align.align_from_emodb_labels("03", manifest, emodb_tree, on_bad_input="skip")
    qa = {row["utt_id"]: row for row in result.qa.iter_rows(named=True)}
    assert qa["03a01Fa"]["aligned"] and qa["03a01Fa"]["n_phones"] == 13 and qa["03a01Fa"]["n_words"] == 6
    assert qa["03a01Nc"]["aligned"] and qa["03a01Nc"]["n_words"] == 0  # no silb file: phones only
    assert qa["03a02Wb"]["reason"] == "phone labels missing"
    assert qa["08a01Ab"]["reason"] == "empty alignment"  # a header-only file: counted, not an error
    phones = result.intervals.filter(utt_id="03a01Fa", tier="phone")
    assert phones.filter(label="E6")["phone_class"].to_list() == ["vowel"]
    assert phones.filter(label="R")["phone_class"].to_list() == ["consonant"]
    words = result.intervals.filter(pl.col("label") != "", utt_id="03a01Fa", tier="word")
    assert words["label"].to_list() == ["der", "lappen", "liegt", "auf", "dem", "eisschrank"]
    assert words["start_s"].to_list()[:2] == [0.080080, 0.244195] and words["end_s"][-1] == 1.841390
    assert phones.filter(label="aI")["word"].to_list() == ["eisschrank"]  # "eis schrank": one word
    assert result.intervals.filter(utt_id="03a01Nc", tier="word").height == 0
    frames = phones.sort("index").select("start_frame", "end_frame").rows()
    assert frames[0][0] == 0 and all(a[1] == b[0] for a, b in zip(frames, frames[1:]))


def test_damaged_label_file_names_file_and_line(tmp_path):
    bad = tmp_path / "x.lablaut"
    bad.write_text(HEADER + "    0.1   -1 a\n    oops\n")
    with pytest.raises(align.AlignmentError, match=r"x.lablaut, line 9: expected"):
        align.read_lablaut(bad)
    bad.write_text("signal x\n    0.1   -1 a\n")
    with pytest.raises(align.AlignmentError, match="no '#' line"):
        align.read_lablaut(bad)


def test_german_sampa_classes_from_wells():
    for vowel in ["I", "E", "a", "O", "U", "Y", "9", "i:", "e:", "E:", "a:", "o:", "u:", "y:", "2:", "@", "6",
                  "aI", "aU", "OY", "E6", "i@", "a6"]:
        assert phone_class(vowel, "sampa_german") == "vowel", vowel
    for consonant in ["p", "b", "t", "d", "k", "g", "?", "f", "v", "s", "z", "S", "Z", "C", "j", "x", "h",
                      "m", "n", "N", "l", "R", "r", "pf", "ts", "tS"]:
        assert phone_class(consonant, "sampa_german") == "consonant", consonant
    assert phone_class("Y", "sampa_german") == "vowel" and phone_class("Y") == "consonant"  # SAMPA vs ARPAbet
    assert phone_class("", "sampa_german") == "silence" and phone_class("(", "sampa_german") == "other"
    assert not SAMPA_GERMAN_VOWELS & SAMPA_GERMAN_CONSONANTS
    assert [align.sampa_label(label) for label in ["!t", "_d", "tasp", "NN", "V", "4", "X", "AO"]] == \
        ["t", "d", "t", "N", "v", "R", "R", "aO"]


def test_words_from_syllables_tolerate_repeats_and_refuse_a_mismatch():
    syllables = [(0.1, "heu"), (0.3, "te"), (0.5, "a"), (0.6, "bend"), (0.9, "könnte"), (1.2, "te"),
                 (1.3, "ich"), (1.5, ".")]
    words = align.emodb.word_intervals(syllables, "Heute abend könnte ich", 2.0)
    assert [(w.start_s, w.end_s, w.label) for w in words] == [
        (0.0, 0.1, ""), (0.1, 0.5, "heute"), (0.5, 0.9, "abend"), (0.9, 1.3, "könnte"), (1.3, 1.5, "ich"),
        (1.5, 2.0, ""),
    ]  # the repeated "te" stays with "könnte"
    assert align.emodb.word_intervals(syllables, "Ganz andere Worte hier", 2.0) == ()
    assert align.emodb.word_intervals([], "Heute abend", 2.0) == ()
