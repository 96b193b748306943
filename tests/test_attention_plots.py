"""Figure 1's CSA chunk-posterior track (issue 12.5): which chunks, where in time, what values."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from emocue.align import FRAME_LENGTH_S, FRAME_SHIFT_S
from emocue.attention_plots import (
    SUMMARY_CHARTS,
    chosen_chunk_predictions,
    render_stage,
    utterance_chart,
    utterance_chart_paths,
)
from emocue.identifiers import UnsafePathError


def chunk_table(path, utt_id: str, starts: list[int], logp_angry: list[float]) -> str:
    logp_angry = np.asarray(logp_angry)
    pl.DataFrame({
        "utt_id": utt_id, "chunk": np.arange(len(starts), dtype=np.int32),
        "start_frame": np.asarray(starts, dtype=np.int32),
        "logp_angry": logp_angry, "logp_sad": np.log1p(-np.exp(logp_angry)),
    }).write_parquet(path)
    return str(path)


def test_each_fold_gets_the_context_fusion_chose(tmp_path):
    runs = [{"fold": fold, "context": context} for context in (20, 30) for fold in ("S1", "S2")]
    paths = [chunk_table(tmp_path / f"{run['fold']}_{run['context']}.parquet", f"u{run['context']}",
                         [0], [math.log(0.5)]) for run in runs]
    selection = pl.DataFrame({"fold": ["S1", "S2", "S1"], "seed": [1, 1, 2], "context": [30, 20, 20]})
    chunks = chosen_chunk_predictions(selection, 1, runs, paths)
    assert sorted(zip(chunks["fold"], chunks["context"], chunks["utt_id"])) == [
        ("S1", 30, "u30"), ("S2", 20, "u20")]
    with pytest.raises(ValueError, match=r"seed 2, folds \['S2'\].*snakemake fusion"):
        chosen_chunk_predictions(selection, 2, runs, paths)


def test_track_plots_each_chunk_posterior_at_its_centre(tmp_path):
    context = 30
    chunks = pl.read_parquet(chunk_table(tmp_path / "c.parquet", "u", [0, 15, 30],
                                         [math.log(0.9), math.log(0.5), math.log(0.2)]))
    chunks = chunks.with_columns(context=pl.lit(context, pl.Int32), fold=pl.lit("S1"))
    phones = pl.DataFrame({"phone": ["AA"], "phone_class": ["vowel"], "start_s": [0.0], "end_s": [0.6]})
    words = pl.DataFrame({"word": ["hi"], "start_s": [0.0], "end_s": [0.6]})
    weights = np.full(60, 1 / 60)
    without = utterance_chart(weights, phones, words, "t").to_dict()
    spec = utterance_chart(weights, phones, words, "t", chunks=chunks).to_dict()
    assert len(spec["vconcat"]) == len(without["vconcat"]) + 1
    track = spec["vconcat"][-1]
    values = spec["datasets"][track["data"]["name"]] if "name" in track.get("data", {}) else track["data"]["values"]
    angry = sorted((row["time_s"], row["posterior"]) for row in values if row["class"] == "angry")
    # chunk [s, s + C) is centred between frame s's and frame s + C - 1's centres
    expected = [((s + (context - 1) / 2) * FRAME_SHIFT_S + FRAME_LENGTH_S / 2, p)
                for s, p in ((0, 0.9), (15, 0.5), (30, 0.2))]
    assert np.allclose(angry, expected)
    assert track["encoding"]["y"]["title"] == "CSA-C30 p(class | chunk)"


@pytest.mark.parametrize("utt_id", ["../escape", "sub/dir", "back\\\\slash"])
def test_an_unsafe_utterance_id_is_refused_before_any_chart_is_written(tmp_path, utt_id):
    utterances = pl.DataFrame({"utt_id": [utt_id], "fold": ["S1"], "emotion": ["angry"],
                               "pred": ["angry"], "correct": [True], "confidence": [0.9]})
    words = pl.DataFrame(schema={"utt_id": pl.String, "word": pl.String, "emotion": pl.String})
    tables = {"utterances": utterances, "phones": pl.DataFrame(), "words": words}
    summary_paths = {name: (str(tmp_path / f"{name}.vl.json"), str(tmp_path / f"{name}.svg"))
                     for name in SUMMARY_CHARTS}
    with pytest.raises(UnsafePathError, match="refusing to build a path"):
        render_stage(tables, pl.DataFrame(), [], 0, 0.05, summary_paths, tmp_path / "utterances",
                     tmp_path / "index.parquet")
    assert list(tmp_path.iterdir()) == []


def test_utterance_chart_paths_stay_in_their_folder(tmp_path):
    assert utterance_chart_paths(tmp_path, "Ses01F_impro01_F000") == (
        tmp_path / "Ses01F_impro01_F000.vl.json", tmp_path / "Ses01F_impro01_F000.svg")
