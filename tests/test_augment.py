"""Training recipe: augmentation, loss weights, selection on validation (emocue.augment, emocue.train)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from test_train import CLASSES, SESSIONS, write_config, write_synthetic_corpus

from emocue import augment
from emocue.config import load_config
from emocue.features import FbankOptions, fbank, load_features, save_features, speaker_stats
from emocue.split import Split
from emocue.train import job_from_results, run_training


def test_spec_augment_keeps_shapes_and_masks_along_the_right_axes():
    torch.manual_seed(0)
    settings = augment.SpecAugmentSettings.defaults(time_masks=2, time_mask_width=5, freq_masks=1, freq_mask_width=3)
    btf = torch.ones(4, 50, 23)  # BLSTMATT (B, T, F)
    masked = augment.SpecAugment(settings, feature_axis=-1)(btf)
    assert masked.shape == btf.shape and (masked == 0).any() and btf.eq(1).all()  # input untouched
    # every zero lies in a masked frame (all bins) or a masked bin (all frames) of its utterance
    for item in masked:
        zero_frames, zero_bins = (item == 0).all(dim=1), (item == 0).all(dim=0)
        assert ((item == 0) == (zero_frames[:, None] | zero_bins[None, :])).all()
        assert zero_frames.sum() <= 2 * 5 and zero_bins.sum() <= 3
    bft = torch.ones(4, 23, 30)  # CSA chunks (B, F, C)
    masked = augment.SpecAugment(settings, feature_axis=1)(bft)
    assert masked.shape == bft.shape
    assert all(((m == 0) == ((m == 0).all(0)[None, :] | (m == 0).all(1)[:, None])).all() for m in masked)
    assert not augment.SpecAugmentSettings.defaults().enabled


def test_balanced_class_weights_equalise_class_totals():
    labels = [0] * 6 + [1] * 3 + [3] * 1
    weights = augment.balanced_class_weights(labels, 4)
    np.testing.assert_allclose(weights, [10 / 24, 10 / 12, 0.0, 10 / 4])
    np.testing.assert_allclose(np.bincount(labels, weights=weights[labels], minlength=4)[[0, 1, 3]], 10 / 4)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_duration_and_pitch_together(factor):
    rate = 16000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    changed = augment.speed_perturb(tone, factor, rate)
    assert abs(len(changed) - len(tone) / factor) <= 2
    peak = np.argmax(np.abs(np.fft.rfft(changed))) * rate / len(changed)
    assert abs(peak - 440 * factor) < 5
    frames = fbank(changed, FbankOptions.defaults())
    assert frames.shape == (FbankOptions.defaults().num_frames(len(changed)), 23)


def test_speed_copies_join_training_only(tmp_path):
    """A speed-perturbation file holds copies of every session utterance; only copies of training
    utterances may enter training — validation and test stay clean."""
    table = pl.DataFrame({"utt_id": ["a", "b", "c", "d"], "speaker": ["s1", "s1", "s2", "s2"]})
    matrices = [np.full((5 + i, 3), float(i), np.float32) for i in range(4)]
    copy_ids = [f"sp0.9-{u}" for u in table["utt_id"]]
    save_features(tmp_path / "sp.npz", copy_ids, matrices)
    speaker_of = {u: f"sp0.9-{s}" for u, s in zip(copy_ids, table["speaker"])}
    speaker_stats(load_features(tmp_path / "sp.npz"), speaker_of).write_parquet(tmp_path / "sp.stats.parquet")
    train = Split("train", ["a", "c"], np.array([0, 2]), [matrices[0], matrices[2]])
    grown = augment.with_speed_copies(train, table, [str(tmp_path / "sp.npz")],
                                      [str(tmp_path / "sp.stats.parquet")], "none")
    assert grown.utt_ids == ["a", "c", "sp0.9-a", "sp0.9-c"]
    np.testing.assert_array_equal(grown.labels, [0, 2, 0, 2])
    np.testing.assert_array_equal(grown.feats[3], matrices[2])
    assert augment.with_speed_copies(train, table, [], [], "none") is train


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results = tmp_path_factory.mktemp("recipe") / "results"
    write_synthetic_corpus(results)
    return results


def test_strong_recipe_masks_training_batches_only_and_selects_on_validation_ua(results, tmp_path, monkeypatch):
    config = load_config(write_config(
        tmp_path / "config.yaml", train={"max_epochs": 4, "early_stopping_patience": 2, "class_balanced_loss": True,
                                         "weight_decay": 1e-4, "threads": 1, "device": "cpu", "lr": 3e-3},
        augment={"spec_augment": {"time_masks": 1, "time_mask_width": 5, "freq_masks": 1, "freq_mask_width": 2}}))
    masked_items = []
    original = augment.SpecAugment.__call__
    monkeypatch.setattr(augment.SpecAugment, "__call__",
                        lambda self, x: masked_items.append(x.shape[0]) or original(self, x))
    out = tmp_path / "run"
    metrics = run_training(job_from_results(results, config, "blstmatt", "Session5", 1, None, out), config)
    history = pl.read_parquet(out / "history.parquet")
    n_train = metrics["n_utterances"]["train"]
    assert sum(masked_items) == n_train * metrics["epochs"]  # training batches, every epoch, nothing else
    composition = pl.DataFrame(metrics["split_composition"])
    assert composition.filter(pl.col("split") == "val")["n"].sum() == metrics["n_utterances"]["val"]
    assert set(composition.filter(pl.col("split") == "val")["label"]) == set(CLASSES)
    scores = list(zip(history["val_ua"], -history["val_loss"]))
    assert metrics["best_epoch"] == 1 + max(range(len(scores)), key=scores.__getitem__)
    assert metrics["select_metric"] == "ua"
    assert metrics["may_be_undertrained"] == (not metrics["stopped_early"]
                                              and metrics["best_epoch"] == metrics["epochs"])
    assert metrics["never_improved"] == (metrics["best_epoch"] == 1 and metrics["epochs"] > 1)
    assert json.loads((out / "metrics.json").read_text())["split_composition"] == metrics["split_composition"]


def test_run_stopped_by_max_epochs_while_improving_is_flagged(results, tmp_path):
    config = load_config(write_config(tmp_path / "config.yaml", train={"max_epochs": 1, "select_metric": "loss"}))
    metrics = run_training(job_from_results(results, config, "blstmatt", "Session5", 1, None, tmp_path / "r"), config)
    assert metrics["epochs"] == metrics["best_epoch"] == 1
    assert metrics["may_be_undertrained"] and not metrics["never_improved"]


def test_speed_perturbed_copies_enter_training_through_the_job(results, tmp_path):
    """With augment.speed_factors the job reads the feature stage's copies (here: the originals
    relabelled as copies) and trains on twice the training utterances; val and test unchanged."""
    for session in SESSIONS[:4]:
        features = load_features(results / "features" / f"{session}.npz")
        manifest = pl.read_parquet(results / "corpus" / f"{session}.parquet")
        ids = [f"sp1.1-{u}" for u in features.utt_ids.tolist()]
        save_features(results / "features" / f"{session}.sp1.1.npz", ids,
                      [features.get(u) for u in features.utt_ids.tolist()])
        speaker_of = {f"sp1.1-{u}": f"sp1.1-{s}" for u, s in zip(manifest["utt_id"], manifest["speaker"])}
        speaker_stats(load_features(results / "features" / f"{session}.sp1.1.npz"),
                      speaker_of).write_parquet(results / "features" / f"{session}.sp1.1.stats.parquet")
    config = load_config(write_config(tmp_path / "config.yaml", train={"max_epochs": 1},
                                      augment={"speed_factors": [1.0, 1.1]}))
    plain = load_config(write_config(tmp_path / "plain.yaml", train={"max_epochs": 1}))
    with_copies = run_training(job_from_results(results, config, "blstmatt", "Session5", 1, None, tmp_path / "a"),
                               config)
    without = run_training(job_from_results(results, plain, "blstmatt", "Session5", 1, None, tmp_path / "b"), plain)
    assert with_copies["n_utterances"]["train"] == 2 * without["n_utterances"]["train"]
    assert with_copies["n_utterances"]["val"] == without["n_utterances"]["val"]
    assert with_copies["n_utterances"]["test"] == without["n_utterances"]["test"]
    val = [pl.read_parquet(tmp_path / run / "val_predictions.parquet")["utt_id"].to_list() for run in "ab"]
    assert val[0] == val[1] and not any(u.startswith("sp") for u in val[0])


# ---- presets ---------------------------------------------------------------------------------------
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def preset(tmp_path, *names):
    """The presets laid over each other as Snakemake merges --configfile files, then validated."""
    import yaml
    from snakemake.utils import update_config

    merged = {}
    for name in names:
        update_config(merged, yaml.safe_load((REPO / "workflow" / "presets" / name).read_text()))
    (tmp_path / "merged.yaml").write_text(yaml.safe_dump(merged))
    return load_config(tmp_path / "merged.yaml")


def recipe(config):
    return {"class_balanced_loss": config["train"]["class_balanced_loss"],
            "weight_decay": config["train"]["weight_decay"] > 0,
            "speed_perturbation": bool(augment.speed_factors(config)),
            "spec_augment": augment.SpecAugmentSettings.from_config(config).enabled}


@pytest.mark.parametrize("base", ["paper.yaml", "emodb.yaml"])
def test_recipe_options_are_off_in_the_base_presets_and_on_with_strong(tmp_path, base):
    assert not any(recipe(preset(tmp_path, base)).values())
    strong = preset(tmp_path, base, "strong.yaml")
    assert all(recipe(strong).values())
    assert augment.speed_factors(strong) == [0.9, 1.1]
    assert strong["corpus"] == preset(tmp_path, base)["corpus"]  # an overlay: the corpus stays
    assert strong["train"]["max_epochs"] >= 10 * strong["train"]["early_stopping_patience"]


def test_emodb_preset_is_leave_one_speaker_out_over_ten_speakers(tmp_path):
    from emocue.config import fold_names

    config = preset(tmp_path, "emodb.yaml")
    assert fold_names(config) == config["corpus"]["sessions"] and len(config["corpus"]["sessions"]) == 10
    assert config["split"]["scheme"] == "loso" and config["align"]["backend"] == "emodb"
    assert len(config["train"]["seeds"]) >= 3 and config["baseline"]["enabled"]


def test_feature_stage_writes_speed_perturbed_copies_under_their_own_ids(tmp_path):
    from fake_iemocap import write_tone

    from emocue.features import write_session_features

    write_tone(tmp_path / "a.wav", 1.0)
    pl.DataFrame({"utt_id": ["u1"], "speaker": ["s1"], "audio_path": [str(tmp_path / "a.wav")],
                  "duration_s": [1.0], "sample_rate": [16000], "num_channels": [1]}
                 ).write_parquet(tmp_path / "m.parquet")
    plain = write_session_features(tmp_path / "m.parquet", tmp_path / "f.npz", tmp_path / "f.stats.parquet")
    fast = write_session_features(tmp_path / "m.parquet", tmp_path / "f.sp1.1.npz", tmp_path / "f.sp1.1.stats.parquet",
                                  speed=1.1)
    assert fast.utt_ids.tolist() == ["sp1.1-u1"]
    assert pl.read_parquet(tmp_path / "f.sp1.1.stats.parquet")["speaker"].to_list() == ["sp1.1-s1"]
    assert abs(len(fast.feats) - len(plain.feats) / 1.1) <= 2


def test_speed_copies_of_unknown_utterances_name_the_file(tmp_path):
    table = pl.DataFrame({"utt_id": ["a"], "speaker": ["s1"]})
    save_features(tmp_path / "sp.npz", ["sp0.9-zzz"], [np.zeros((4, 3), np.float32)])
    train = Split("train", ["a"], np.array([0]), [np.zeros((4, 3), np.float32)])
    with pytest.raises(ValueError, match="sp.npz holds copies of 1 utterances"):
        augment.with_speed_copies(train, table, [str(tmp_path / "sp.npz")], [str(tmp_path / "x.parquet")], "none")
