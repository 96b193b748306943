"""Attention stage: mapping on hand-built cases, the rotation machinery, the stage tables and the
rules on synthetic inputs (runtime ≈ 30 s, most of it one Snakemake run rendering the charts)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import yaml

from emocue import attention
from emocue.attention_sim import SimulationSpec, simulate

from conftest import TINY_CONFIG, run_snakemake

ALPHA = np.array([0.05, 0.05, 0.1, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])  # T = 10, Σ = 1


def interval_rows(utt_id, tier, spans):
    """Alignment rows in the contract format from (label, start_frame, end_frame, class, word)."""
    return [
        {"utt_id": utt_id, "tier": tier, "index": index, "label": label,
         "start_s": start * 0.01 + 0.008, "end_s": end * 0.01 + 0.008,
         "start_frame": start, "end_frame": end, "phone_class": phone_class, "word": word,
         "word_index": None if word is None else 0}
        for index, (label, start, end, phone_class, word) in enumerate(spans)
    ]


@pytest.fixture
def hand_built():
    curves = attention.curves_from_table(pl.DataFrame({
        "utt_id": ["u1"] * 10, "frame": np.arange(10, dtype=np.int32),
        "weight": ALPHA.astype(np.float32)}))
    phones = interval_rows("u1", "phone", [
        ("", 0, 2, "silence", None), ("K", 2, 4, "consonant", "cat"),
        ("AE1", 4, 7, "vowel", "cat"), ("T", 7, 9, "consonant", "cat"),
        ("Z", 9, 9, "consonant", "cat"),  # shorter than a frame: owns none
        ("", 9, 12, "silence", None),  # runs past T: clipped
    ])
    words = interval_rows("u1", "word", [("cat", 2, 9, None, None)])
    intervals = pl.DataFrame(phones + words)
    meta = pl.DataFrame({"utt_id": ["u1"], "emotion": ["sad"]})
    return curves, intervals, meta


def test_phone_tokens_by_hand(hand_built):
    curves, intervals, meta = hand_built
    phones = attention.map_tokens(curves, intervals, meta, "phone")
    assert phones["phone"].to_list() == ["", "K", "AE1", "T", "Z", ""]
    assert phones["phone_base"].to_list()[2] == "AE"
    np.testing.assert_allclose(phones["attention_mass"], [0.1, 0.3, 0.4, 0.15, 0.0, 0.05])
    # mean a = mass · T / frames: K 0.3·10/2, AE 0.4·10/3, T 0.15·10/2; Z has no frames.
    np.testing.assert_allclose(phones["mean_attention"], [0.5, 1.5, 4 / 3, 0.75, np.nan, 0.5])
    assert phones["n_frames"].to_list() == [2, 2, 3, 2, 0, 1]
    np.testing.assert_allclose(phones["relative_position"], [0.1, 0.3, 0.55, 0.8, 0.9, 0.95])
    assert phones["emotion"].unique().to_list() == ["sad"]


def test_word_tokens_and_utterance_summary_by_hand(hand_built):
    curves, intervals, meta = hand_built
    words = attention.map_tokens(curves, intervals, meta, "word")
    assert words["word"].to_list() == ["cat"]
    assert words["attention_mass"][0] == pytest.approx(0.85)
    assert words["mean_attention"][0] == pytest.approx(0.85 * 10 / 7)
    phones = attention.map_tokens(curves, intervals, meta, "phone")
    classes = attention.frame_classes(curves, phones)
    assert classes.tolist() == [0, 0, 2, 2, 1, 1, 1, 2, 2, 0]
    row = attention.utterance_summary(curves, classes, n_bins=2).row(0, named=True)
    assert row["vowel_mean"] == pytest.approx(4 / 3)
    assert row["consonant_mean"] == pytest.approx((0.3 + 0.15) * 10 / 4)
    assert row["vowel_mass_share"] == pytest.approx(0.4 / 0.85)
    assert row["vowel_time_share"] == pytest.approx(3 / 7)
    assert row["paired"]


def test_rotation_differences_match_brute_force():
    sim = simulate(SimulationSpec(n_utterances=3, min_frames=80, max_frames=100), seed=5)
    curves, classes = sim.curves, sim.classes
    values = curves.normalised()
    fast = attention.rotation_differences(curves, values, classes)
    for begin, end in zip(curves.offsets[:-1], curves.offsets[1:]):
        a, c = values[begin:end], classes[begin:end]
        for shift in range(end - begin):
            rotated = np.roll(a, shift)  # rotated[t] = a[(t − shift) mod T]
            expected = rotated[c == 1].mean() - rotated[c == 2].mean()
            assert fast[begin + shift] == pytest.approx(expected)


def test_rotation_null_has_mean_zero_and_p_is_bounded():
    sim = simulate(SimulationSpec(n_utterances=20, vowel_effect=2.0), seed=3)
    curves = sim.curves
    differences = attention.rotation_differences(curves, curves.normalised(), sim.classes)
    for begin, end in zip(curves.offsets[:-1], curves.offsets[1:]):
        assert differences[begin:end].mean() == pytest.approx(0.0, abs=1e-9)
    n_shifts = 99
    result = attention.circular_shift_test(curves, differences, np.arange(20), n_shifts, 50, 0)
    assert result.pvalue == pytest.approx(1 / (n_shifts + 1))  # a huge effect: the lower bound
    assert result.effect_size > 0 and result.n == 20
    result = attention.circular_shift_test(curves, -differences, np.arange(20), n_shifts, 50, 0)
    assert 1 / (n_shifts + 1) <= result.pvalue <= 1.0


def test_position_adjustment_removes_a_shared_trend():
    sim = simulate(SimulationSpec(n_utterances=200, noise_scale=0.01, position_effect=2.0), seed=1)
    curves = sim.curves
    adjusted = attention.position_adjusted(curves, curves.normalised(), n_bins=10)
    assert np.ptp(curves.normalised()) > 1.0
    assert np.abs(adjusted - 1.0).max() < 0.1


def stage_inputs(sim, fold="Session5"):
    return dict(
        attention=sim.attention.with_columns(pl.lit(fold).alias("fold")),
        predictions=sim.predictions.with_columns(pl.lit(fold).alias("fold")),
        manifest=sim.manifest, intervals=sim.intervals,
    )


def test_stage_tables_and_left_out():
    sim = simulate(SimulationSpec(n_utterances=40, vowel_effect=1.0), seed=2)
    inputs = stage_inputs(sim)
    # Drop one utterance's attention and another's alignment; add attention with no prediction.
    inputs["attention"] = pl.concat([
        inputs["attention"].filter(pl.col("utt_id") != "Sim05_00000"),
        pl.DataFrame({"utt_id": ["stray"], "frame": [0], "weight": [1.0], "fold": ["Session5"]},
                     schema=inputs["attention"].schema),
    ])
    inputs["intervals"] = inputs["intervals"].filter(pl.col("utt_id") != "Sim05_00001")
    settings = attention.AttentionSettings.defaults(n_shifts=1000, n_bootstrap=100)
    tables = attention.analyse(**inputs, settings=settings)
    reasons = dict(tables.left_out.select("utt_id", "reason").iter_rows())
    assert reasons == {"Sim05_00000": "no attention weights", "Sim05_00001": "no phone alignment",
                       "stray": "attention but no prediction row"}
    assert tables.utterances.height == 38
    tests = tables.tests
    overall = tests.filter(pl.col("group_type") == "all")
    assert set(overall["test"]) == {"vowel_vs_consonant", "circular_shift", "mass_vs_time_share"}
    assert (overall["pvalue"] < 0.01).all() and (overall["effect_size"] > 0).all()
    assert set(tests["test"]) >= {"phone_vs_uniform", "word_across_emotions",
                                  "vowel_effect_correct_vs_wrong", "vowel_effect_across_emotions"}
    assert tests.filter(pl.col("group_type") == "emotion", pl.col("test") == "vowel_vs_consonant"
                        ).height == 2 * 4
    shift = tests.filter(pl.col("test") == "circular_shift")
    assert (shift["pvalue"] >= 1 / 1001).all()
    assert set(shift["alternative"]) == {"greater", "two-sided"}
    assert tests["q_value"].drop_nulls().is_between(0, 1).all()
    ranking = tables.phone_ranking
    assert ranking["rank"].to_list() == list(range(1, ranking.height + 1))
    vowels = ranking.filter(pl.col("phone_class") == "vowel")
    assert (vowels["mean_attention"] > 1).all() and ranking["phone_class"][0] == "vowel"
    assert vowels["significant"].any()
    assert tables.word_importance.columns[:3] == ["word", "emotion", "n_tokens"]


def test_phone_ranking_is_reproducible():
    """Same inputs and seed, same CIs: the per-utterance values the bootstrap indexes keep their order."""
    sim = simulate(SimulationSpec(n_utterances=120, vowel_effect=0.2), seed=3)
    curves = attention.curves_from_table(sim.attention)
    meta = sim.manifest.select("utt_id", pl.col("label").alias("emotion"))
    phones = attention.map_tokens(curves, sim.intervals, meta, "phone")
    settings = attention.AttentionSettings.defaults(n_shifts=10, n_bootstrap=200)
    first = attention.phone_ranking(curves, phones, settings)
    for _ in range(3):
        assert attention.phone_ranking(curves, phones, settings).equals(first, null_equal=True)


def test_no_analysable_utterance_is_an_error():
    sim = simulate(SimulationSpec(n_utterances=5), seed=0)
    inputs = stage_inputs(sim)
    inputs["intervals"] = inputs["intervals"].filter(pl.col("tier") == "word")
    with pytest.raises(ValueError, match="phone alignment"):
        attention.analyse(**inputs, settings=attention.AttentionSettings.defaults())


def test_attention_table_with_gaps_is_rejected():
    table = pl.DataFrame({"utt_id": ["u", "u"], "frame": [0, 2], "weight": [0.5, 0.5]})
    with pytest.raises(ValueError, match="0..T-1"):
        attention.curves_from_table(table)


@pytest.mark.slow
def test_attention_rules_on_synthetic_inputs(tmp_path):
    """`snakemake attention` (stats + plots rules only) on synthetic upstream outputs."""
    sim = simulate(SimulationSpec(n_utterances=30, vowel_effect=0.3), seed=4)
    run_dir = tmp_path / "results/train/blstmatt/Session5/seed1"
    run_dir.mkdir(parents=True)
    sim.attention.write_parquet(run_dir / "attention.parquet")
    sim.predictions.write_parquet(run_dir / "predictions.parquet")
    (tmp_path / "results/corpus").mkdir(parents=True)
    sim.manifest.write_parquet(tmp_path / "results/corpus/Session5.parquet")
    (tmp_path / "results/align").mkdir(parents=True)
    sim.intervals.write_parquet(tmp_path / "results/align/Session5.intervals.parquet")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    # attention_plots also draws CSA's chunk posteriors at the context fusion chose (Figure 1's track)
    [context] = config["csa"]["contexts"]
    (tmp_path / "results/fusion").mkdir(parents=True)
    pl.DataFrame({"fold": ["Session5"], "seed": [1], "context": [context]}).write_parquet(
        tmp_path / "results/fusion/selection.parquet")
    csa_dir = tmp_path / f"results/train/csa/C{context}/Session5/seed1"
    csa_dir.mkdir(parents=True)
    pl.DataFrame({"utt_id": ["Sim05_00002"] * 2, "chunk": np.arange(2, dtype=np.int32),
                  "start_frame": np.array([0, context - 10], dtype=np.int32),
                  **{f"logp_{name}": np.log(np.full(2, 0.25)) for name in config["corpus"]["classes"]}},
                 ).write_parquet(csa_dir / "chunk_predictions.parquet")
    config["attention"] = {"n_shifts": 100, "bootstrap": 50, "plot_utterances": ["Sim05_00002"]}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(tmp_path, "--cores", "1", "attention",
                  "--allowed-rules", "attention_stats", "attention_plots", "attention",
                  configfile=configfile)
    out = tmp_path / "results/attention/seed1"
    tests = pl.read_parquet(out / "tests.parquet")
    assert tests.filter(pl.col("test") == "circular_shift", pl.col("group_type") == "all").height == 4
    index = pl.read_parquet(out / "charts/utterance_charts.parquet")
    assert "Sim05_00002" in index.filter(pl.col("reason") == "config")["utt_id"].to_list()
    assert set(index["reason"]) >= {"config", "most_confident"}
    for path in index["vl_json"].drop_nulls():
        spec = json.loads((tmp_path / path).read_text())
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite")
    assert (out / "charts/phone_ranking.svg").read_text().startswith("<svg")
