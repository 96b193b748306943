"""Classical baseline (emocue.baseline): eGeMAPS functionals, normalisation, C chosen on validation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml
from fake_iemocap import write_tone

from emocue import layout
from emocue.baseline import normalised_functionals, run_baseline, write_session_functionals
from emocue.config import load_config
from emocue.scoring import logp_columns, read_predictions
from emocue.split import SplitSettings, split_tables

CLASSES = ["neutral", "happy", "angry", "sad"]
SESSIONS = [f"Session{i}" for i in range(1, 6)]
N_FEATURES = 88


def test_functionals_are_the_88_egemaps_features_and_short_audio_is_counted_missing(tmp_path):
    write_tone(tmp_path / "long.wav", 1.0)
    write_tone(tmp_path / "short.wav", 0.005)
    pl.DataFrame({"utt_id": ["a", "b"], "speaker": ["s", "s"],
                  "audio_path": [str(tmp_path / "long.wav"), str(tmp_path / "short.wav")]}
                 ).write_parquet(tmp_path / "manifest.parquet")
    with pytest.warns(UserWarning, match="too short"):
        table = write_session_functionals(tmp_path / "manifest.parquet", tmp_path / "out" / "f.parquet")
    assert table.columns[:2] == ["utt_id", "speaker"] and table.width == 2 + N_FEATURES
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in table.columns
    values = table.drop("utt_id", "speaker").to_numpy()
    assert np.isfinite(values[0]).all() and not np.isfinite(values[1]).all()
    assert pl.read_parquet(tmp_path / "out" / "f.parquet").equals(table)


def test_speaker_normalisation_gives_every_speaker_zero_mean_unit_variance():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 3)) * [1, 10, 100] + np.repeat([[5, 50, 500], [-5, 0, 9]], 20, axis=0)
    values[3, 1] = np.nan  # a missing functional is left out of its speaker's statistics
    table = pl.DataFrame({"utt_id": [f"u{i}" for i in range(40)], "speaker": ["a"] * 20 + ["b"] * 20,
                          **{f"f{k}": values[:, k] for k in range(3)}})
    normalised = normalised_functionals(table, "speaker")
    for rows in (slice(0, 20), slice(20, 40)):
        np.testing.assert_allclose(np.nanmean(normalised[rows], axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(np.nanstd(normalised[rows], axis=0), 1, atol=1e-3)
    assert np.isnan(normalised[3, 1])
    np.testing.assert_array_equal(normalised_functionals(table, "none"), values.astype(np.float32))


def write_corpus(root, seed: int = 0, test_shift: float = 0.0):
    """5 sessions x 2 speakers x 16 utterances; class k raises features 4k..4k+3 (learnable)."""
    rng = np.random.default_rng(seed)
    manifests, functionals = [], []
    for number, session in enumerate(SESSIONS, start=1):
        rows, values = [], []
        for gender in "FM":
            speaker = f"Ses{number:02d}{gender}"
            offset = rng.normal(scale=3.0, size=N_FEATURES)
            for i in range(16):
                label = i % 4
                x = rng.normal(size=N_FEATURES) + offset
                x[4 * label: 4 * label + 4] += 2.0
                if session == "Session5":
                    x += test_shift
                rows.append({"utt_id": f"{speaker}_{i:02d}", "speaker": speaker, "session": session,
                             "label": CLASSES[label]})
                values.append(x)
        manifest = root / f"{session}.parquet"
        pl.DataFrame(rows).write_parquet(manifest)
        table = pl.DataFrame(rows).select("utt_id", "speaker").hstack(
            pl.DataFrame(np.array(values), schema=[f"f{k}" for k in range(N_FEATURES)], orient="row"))
        table.write_parquet(root / f"{session}.functionals.parquet")
        manifests.append(str(manifest))
        functionals.append(str(root / f"{session}.functionals.parquet"))
    return manifests, functionals


def baseline_config(tmp_path, **split):
    config = {"corpus": {"type": "demo", "root": "unused", "sessions": SESSIONS,
                         "label_map": {"neu": "neutral"}, "classes": CLASSES},
              "align": {"textgrid_dir": "unused"}, "split": split,
              "baseline": {"c_grid": [0.0001, 0.01, 1.0]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return load_config(tmp_path / "config.yaml")


@pytest.mark.parametrize("classifier", ["svm", "logreg"])
def test_baseline_run_writes_training_format_predictions_on_the_neural_split(tmp_path, classifier):
    manifests, functionals = write_corpus(tmp_path)
    config = baseline_config(tmp_path)
    outputs = layout.baseline_outputs(classifier, "Session5", 1, root=str(tmp_path / "results"))
    selection = run_baseline(classifier, "Session5", 1, manifests, functionals, outputs, config)
    test = read_predictions(outputs["predictions"], CLASSES)
    val = read_predictions(outputs["val_predictions"], CLASSES)
    assert test.columns == ["utt_id", "label", "pred", *logp_columns(CLASSES)]
    np.testing.assert_allclose(np.exp(test.select(logp_columns(CLASSES)).to_numpy()).sum(1), 1, atol=1e-9)
    assert set(test["utt_id"].str.slice(0, 5)) == {"Ses05"} and test.height == 32
    assert (test["label"] == test["pred"]).mean() > 0.7  # the synthetic task is learnable
    # validation = exactly the neural models' validation split of this fold and seed
    table = pl.concat([pl.read_parquet(m) for m in manifests]).sort("utt_id")
    expected = split_tables(table, "Session5", SplitSettings.from_config(config), 1)["val"]["utt_id"]
    assert val["utt_id"].to_list() == expected.to_list()
    assert selection["chosen"].sum() == 1 and selection.height == 3
    assert selection.filter("chosen")["val_score"][0] == selection["val_score"].max()


def test_baseline_choice_of_c_ignores_the_test_session(tmp_path):
    """Poisoned test set: the test session's features and labels changed out of recognition; the
    validation scores and the chosen C stay exactly the same (only validation decides)."""
    clean_dir, poisoned_dir = tmp_path / "clean", tmp_path / "poisoned"
    clean_dir.mkdir(), poisoned_dir.mkdir()
    clean = write_corpus(clean_dir)
    poisoned = write_corpus(poisoned_dir, test_shift=25.0)
    manifest5 = pl.read_parquet(poisoned[0][4])
    manifest5.with_columns(label=pl.lit("sad")).write_parquet(poisoned[0][4])
    config = baseline_config(tmp_path)
    results = [run_baseline("svm", "Session5", 2, manifests, functionals,
                            layout.baseline_outputs("svm", "Session5", 2, root=str(folder / "results")), config)
               for folder, (manifests, functionals) in ((clean_dir, clean), (poisoned_dir, poisoned))]
    assert results[0].equals(results[1])
    tests = [pl.read_parquet(layout.baseline_outputs("svm", "Session5", 2, root=str(f / "results"))["predictions"])
             for f in (clean_dir, poisoned_dir)]
    assert not tests[0]["label"].equals(tests[1]["label"])  # the poison reached the test predictions


def test_missing_functionals_name_the_files(tmp_path):
    manifests, functionals = write_corpus(tmp_path)
    pl.read_parquet(functionals[0]).slice(1).write_parquet(functionals[0])
    with pytest.raises(ValueError, match="no functionals for 1 manifest utterances"):
        run_baseline("svm", "Session5", 1, manifests, functionals,
                     layout.baseline_outputs("svm", "Session5", 1, root=str(tmp_path / "r")),
                     baseline_config(tmp_path))


def test_report_section_lists_the_c_chosen_on_validation(tmp_path):
    from emocue.report.blocks import NotConfigured
    from emocue.report.inputs import Inputs
    from emocue.report.sections import selection

    manifests, functionals = write_corpus(tmp_path)
    config = baseline_config(tmp_path)
    results = tmp_path / "results"
    for classifier in ("svm", "logreg"):
        run_baseline(classifier, "Session5", 1, manifests, functionals,
                     layout.baseline_outputs(classifier, "Session5", 1, root=str(results)), config)
    files = selection.files(config)
    assert set(files) == {"baseline_selection"}  # hparam search off: not declared
    chosen, grid = selection._baseline_blocks(Inputs(results, files), config)
    assert [row[0] for row in chosen.rows] == ["eGeMAPS-LR", "eGeMAPS-SVM"]
    assert len(grid.rows) == 2 * len(config["baseline"]["c_grid"])
    with pytest.raises(NotConfigured, match="hparam.enabled"):
        selection._hparam_blocks(Inputs(results, files), config)


@pytest.mark.slow
def test_tiny_workflow_scores_the_baseline_and_fuses_it_as_a_third_system(tiny_run):
    """`rule all` on tests/data/tiny.yaml (fusion.systems: [eGeMAPS-SVM]): baseline predictions,
    its score tables, its Table 1 rows, and SYSComb+eGeMAPS-SVM with a weight chosen on validation."""
    results = tiny_run / "results"
    for system in layout.BASELINE_SYSTEMS.values():
        summary = pl.read_parquet(results / layout.score_file("summary", system, root=""))
        assert summary.filter(pl.col("level") == "utterance")["ua"].is_not_null().all()
    table = pl.read_parquet(results / layout.TABLE1_OUTPUTS["table"])
    assert {"eGeMAPS-SVM", "eGeMAPS-LR", "SYSComb+eGeMAPS-SVM"} <= set(table["system"])
    fused = pl.read_parquet(results / layout.FUSION_OUTPUTS["predictions"]).filter(
        pl.col("system") == "SYSComb+eGeMAPS-SVM")
    assert fused.height == pl.read_parquet(
        results / layout.baseline_outputs("svm", "Session5", 1, root="")["predictions"]).height
