"""Table 1 (emocue.table1): the paper's values against the paper's own text, the rows built from
score-stage summaries, and the one rendering (~1 s)."""

from __future__ import annotations

import re

import polars as pl
import pytest

from conftest import REPO
from emocue import layout
from emocue.scoring import EvaluationSettings, score_system
from emocue.table1 import (
    PAPER_TABLE1,
    PUBLISHED_SYSTEMS,
    SWAPPED_NAMES_NOTE,
    build_table1,
    protocol_notes,
    published_table,
    render_html,
    render_markdown,
    run_table1,
)

PAPER_TEXT = REPO.parent / "shared" / "paper" / "000_8643b5b98ea16aff.txt"
CLASSES = ["neutral", "happy", "angry", "sad"]


def paper_rows() -> list[list[str]]:
    """The tab-separated rows of the paper's Table 1, HTML tags stripped, from its header line
    ("System  Context  UA%  WA%") to the caption."""
    if not PAPER_TEXT.is_file():
        pytest.skip(f"the paper's text is not at {PAPER_TEXT}")
    lines = PAPER_TEXT.read_text().splitlines()
    start = lines.index("System\tContext\tUA%\tWA%")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("Table 1:"))
    return [re.sub(r"</?[bi]>", "", line).split("\t") for line in lines[start + 1:end] if line.strip()]


def number(cell: str) -> float | None:
    return None if cell == "-" else float(cell)


def test_paper_values_match_the_paper_with_its_column_names_swapped():
    ours, csa_context = {}, None
    published = []
    for system, context, paper_ua, paper_wa in paper_rows():
        # The paper's "UA" is the overall accuracy (our WA), its "WA" the mean recall (our UA).
        values = (number(paper_ua), number(paper_wa))
        if system == "BLSTMATT":
            ours[layout.BLSTMATT] = values
        elif system == "CSA" or (not system and csa_context is not None):
            csa_context = int(context)
            ours[layout.csa_system(csa_context)] = values
        elif system.startswith("SYSComb"):
            assert context == "V./30"
            ours[layout.syscomb_weight_system(0.4)] = values  # CSA C = 30 at w = 0.4 (paper §5)
        else:
            published.append((system, *values))
    assert ours == PAPER_TABLE1
    assert published == PUBLISHED_SYSTEMS
    assert len(PAPER_TABLE1) == 13 and len(PUBLISHED_SYSTEMS) == 6


def summary(system, accuracy_of_seed, chunk=False):
    """A score-stage summary of a synthetic system (two seeds, 40 utterances)."""
    labels = [k % 4 for k in range(40)]
    tables = []
    for seed, right in accuracy_of_seed.items():
        preds = [label if k < right else (label + 1) % 4 for k, label in enumerate(labels)]
        for level in ("utterance", "chunk") if chunk else ("utterance",):
            tables.append(pl.DataFrame({
                "level": level, "fold": "Session5", "seed": seed,
                "utt_id": [f"u{k}" for k in range(40)],
                "label": [CLASSES[i] for i in labels], "pred": [CLASSES[i] for i in preds],
            }).cast({"seed": pl.Int32}))
    return score_system(pl.concat(tables), CLASSES, system, EvaluationSettings.defaults(bootstrap=50)).summary


def test_table1_rows_come_from_the_summaries_with_the_paper_beside_them():
    summaries = [summary(layout.BLSTMATT, {1: 30, 2: 34}), summary("CSA-C30", {1: 28, 2: 28}, chunk=True),
                 summary("CSA-C45", {1: 20, 2: 24}, chunk=True), summary(layout.SYSCOMB, {1: 31, 2: 35}),
                 summary("SYSComb-w0.4", {1: 32, 2: 32}), summary("eGeMAPS-SVM", {1: 25, 2: 25})]
    selection = pl.DataFrame({"fold": ["Session5"] * 2, "seed": [1, 2], "context": [30, 45],
                              "weight": [0.35, 0.35], "paper_weight": [0.4, 0.4]})
    table = build_table1(summaries, selection)
    assert table["system"].to_list() == ["BLSTMATT", "CSA-C30", "CSA-C45", "SYSComb", "SYSComb-w0.4",
                                         "eGeMAPS-SVM"]
    rows = {row["system"]: row for row in table.iter_rows(named=True)}
    assert rows["BLSTMATT"]["wa"] == pytest.approx((30 + 34) / 80)
    assert rows["BLSTMATT"]["wa_sd"] == pytest.approx(pl.Series([30 / 40, 34 / 40]).std())
    assert (rows["BLSTMATT"]["paper_wa"], rows["BLSTMATT"]["paper_ua"]) == (80.1, 73.5)
    assert rows["BLSTMATT"]["chunk_wa"] is None and rows["CSA-C30"]["chunk_wa"] == pytest.approx(0.7)
    assert rows["CSA-C30"]["context"] == 30 and rows["CSA-C30"]["paper_wa"] == 76.3
    assert rows["CSA-C45"]["paper_wa"] is None and rows["CSA-C45"]["paper_note"] == "not in the paper"
    # The paper's SYSComb value sits on SYSComb-w0.4, never on the validation-selected row.
    assert rows["SYSComb"]["paper_wa"] is None and rows["SYSComb"]["weight"] == 0.35
    assert rows["SYSComb"]["context"] is None  # the context differs between runs
    assert (rows["SYSComb-w0.4"]["paper_wa"], rows["SYSComb-w0.4"]["weight"]) == (80.5, 0.4)
    assert rows["SYSComb-w0.4"]["paper_note"] == "paper: CSA C = 30"
    baseline = rows["eGeMAPS-SVM"]  # a system the paper did not run (issue 14's baseline)
    assert (baseline["context"], baseline["weight"], baseline["paper_note"]) == (None, None, "not in the paper")

    published = published_table()
    assert published["system"].to_list()[-1] == "MULTIMODAL: Attention [44]"
    assert set(published["source"]) == {"quoted from Jalal, Milner & Hain (Interspeech 2020), Table 1"}
    markdown, fragment = render_markdown(table, published, []), render_html(table, published, [])
    for text in (markdown, fragment):
        assert "80.1" in text and "Factor analysis [41]" in text and "quoted" in text
        assert "SYSComb (C per run, w = 0.35)" in text and "| eGeMAPS-SVM |" in markdown
    assert SWAPPED_NAMES_NOTE in markdown
    assert fragment.count("<table") == 2


def test_table1_files_carry_the_protocol_and_speaker_overlap_notes_of_the_report(tmp_path):
    """issue 11/12 audit: table1.md had none of the notes the report puts under Table 1."""
    summaries, manifests = [], []
    for system in (layout.BLSTMATT, "CSA-C30"):
        path = tmp_path / f"{system}.parquet"
        summary(system, {1: 30}).write_parquet(path)
        summaries.append(path)
    selection = tmp_path / "selection.parquet"
    pl.DataFrame({"fold": ["Session5"], "seed": [1], "context": [30], "weight": [0.5],
                  "paper_weight": [0.4]}).write_parquet(selection)
    speakers = {"Session1": ["Ses01F", "Ses05F"], "Session5": ["Ses05F", "Ses05M"]}  # Ses05F in both
    for session, names in speakers.items():
        manifests.append(tmp_path / f"{session}.parquet")
        pl.DataFrame({"utt_id": [f"{session}_{name}" for name in names], "session": session,
                      "speaker": names}).write_parquet(manifests[-1])
    config = {"split": {"scheme": "session5", "test_session": "Session5", "validation": "auto"},
              "corpus": {"sessions": list(speakers)}}
    outputs = {role: tmp_path / "table1" / name for role, name in
               (("table", "t.parquet"), ("published", "p.parquet"), ("markdown", "t.md"),
                ("html", "t.html"))}
    run_table1(summaries, selection, manifests, config, outputs)
    markdown, fragment = outputs["markdown"].read_text(), outputs["html"].read_text()
    protocol = ("- Protocol of every row of Table 1: split.scheme session5 (test: Session5); "
                "validation split auto (speaker-disjoint with >= 4 training speakers, else stratified).")
    overlap = ("- Note on every row of Table 1: 1 speaker(s) are in both training and test sessions, "
               "so results are speaker-dependent: Ses05F (test Session5; training Session1)")
    assert protocol in markdown.splitlines() and overlap in markdown.splitlines()
    # the report renders the same notes through the same function
    notes = protocol_notes(config, pl.concat([pl.read_parquet(path) for path in manifests]))
    assert [f"- {note}" for note in notes] == [protocol, overlap]
    assert fragment == render_html(pl.read_parquet(outputs["table"]),
                                   pl.read_parquet(outputs["published"]), notes)
    by_speaker = {**config, "split": {**config["split"], "scheme": "loso_speaker"}}
    assert [note.split(":")[0] for note in protocol_notes(by_speaker, pl.read_parquet(manifests[0]))] == [
        "Protocol of every row of Table 1"]  # folds are speakers: no overlap note
