"""Training jobs on a synthetic corpus written in tmp_path (manifests + features + speaker stats).

Covers the split, batching, outputs and their documented columns, learning above chance,
CSA's left-out counts, CPU determinism, device errors, and resume after killing a real training
process. About 40 s on 2 cores (the kill/resume test is ~20 s of it).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from emocue.config import load_config
from emocue.batches import length_buckets
from emocue.features import save_features
from emocue.models import load_trained
from emocue.models.csa import chunk_starts
from emocue.split import SplitSettings, make_splits
from emocue.train import (
    CHECKPOINT_FILE,
    OUTPUT_FILES,
    job_from_results,
    load_utterances,
    resolve_device,
    run_training,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["neutral", "happy", "angry", "sad"]
SESSIONS = [f"Session{i}" for i in range(1, 6)]


def write_synthetic_corpus(results: Path, utterances_per_speaker: int = 12, seed: int = 0) -> None:
    """5 sessions x 2 speakers; class k raises mel bins 5k..5k+4, so the task is learnable.

    Lengths 15-70 frames, so CSA with C = 30 leaves some utterances out in every split.
    """
    rng = np.random.default_rng(seed)
    for number, session in enumerate(SESSIONS, start=1):
        rows, matrices = [], []
        for gender in "FM":
            speaker = f"Ses{number:02d}{gender}"
            offset = rng.normal(scale=2.0, size=23)  # speaker effect, removed by speaker normalisation
            for i in range(utterances_per_speaker):
                label = i % len(CLASSES)
                frames = rng.normal(size=(int(rng.integers(15, 70)), 23)) + offset
                frames[:, 5 * label: 5 * label + 5] += 1.5
                rows.append({"utt_id": f"{speaker}_{i:03d}", "speaker": speaker, "session": session,
                             "label": CLASSES[label]})
                matrices.append(frames.astype(np.float32))
        (results / "corpus").mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows).write_parquet(results / "corpus" / f"{session}.parquet")
        save_features(results / "features" / f"{session}.npz", [r["utt_id"] for r in rows], matrices)
        stats = []
        for speaker in sorted({r["speaker"] for r in rows}):
            frames = np.concatenate([m for r, m in zip(rows, matrices) if r["speaker"] == speaker])
            stats.append({"speaker": speaker, "num_frames": len(frames), "mean": frames.mean(0).tolist(),
                          "var": frames.var(0).tolist()})
        pl.DataFrame(stats).write_parquet(results / "features" / f"{session}.stats.parquet")


def write_config(path: Path, **sections) -> Path:
    config = {
        "corpus": {"type": "demo", "root": "unused", "sessions": SESSIONS,
                   "label_map": {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"},
                   "classes": CLASSES},
        "align": {"textgrid_dir": "unused"},
        "train": {"device": "cpu", "max_epochs": 6, "early_stopping_patience": 6, "lr": 3e-3,
                  "threads": 1},
        "blstmatt": {"hidden_size": 8, "num_layers": 2, "context_size": 8, "batch_size": 8},
        "csa": {"channels": 8, "kernel_sizes": [3, 3, 3], "batch_size": 32, "contexts": [30]},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("synthetic") / "results"
    write_synthetic_corpus(results)
    return results


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    return load_config(write_config(tmp_path_factory.mktemp("config") / "config.yaml"))


def train(results: Path, config: dict, out_dir: Path, model: str = "blstmatt", context: int | None = None,
          seed: int = 1) -> dict:
    job = job_from_results(results, config, model, "Session5", seed, context, out_dir)
    return run_training(job, config)


# ---- splits and batches ------------------------------------------------------------------------
def test_splits_keep_the_test_session_out_of_training_and_validation(results, config):
    table, matrices = load_utterances(
        *(job_from_results(results, config, "blstmatt", "Session5", 1, None, "x").__dict__[key]
          for key in ("manifests", "features", "stats")), CLASSES, "speaker")
    splits = make_splits(table, matrices, "Session5", SplitSettings.defaults(validation="stratified"), seed=1)
    session_of = dict(zip(table["utt_id"], table["session"]))
    assert {session_of[u] for u in splits["test"].utt_ids} == {"Session5"}
    assert "Session5" not in {session_of[u] for u in splits["train"].utt_ids + splits["val"].utt_ids}
    assert len(splits["val"]) == round(0.1 * 96) and len(splits["test"]) == 24
    assert not set(splits["train"].utt_ids) & set(splits["val"].utt_ids)
    # speaker normalisation: every training speaker's frames have mean 0 and variance 1
    speaker_frames = np.concatenate([m for u, m in zip(splits["train"].utt_ids + splits["val"].utt_ids,
                                                       splits["train"].feats + splits["val"].feats)
                                     if u.startswith("Ses01F")])
    np.testing.assert_allclose(speaker_frames.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(speaker_frames.std(0), 1, atol=1e-3)


def test_length_buckets_cover_every_item_once_with_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 1000, 500)
    batches = length_buckets(lengths, 16, rng, pool_batches=50)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(500))
    assert max(len(b) for b in batches) == 16
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 16])
    assert spread < 0.1 * np.ptp(lengths)  # sorted within pools: padding stays small
    in_order = length_buckets(lengths, 16, None)  # evaluation: sorted, deterministic
    assert np.all(np.diff(lengths[np.concatenate(in_order)]) >= 0)


# ---- full runs ---------------------------------------------------------------------------------
def test_blstmatt_run_writes_documented_outputs_and_learns(results, config, tmp_path):
    out = tmp_path / "blstmatt"
    metrics = train(results, config, out)
    finished = torch.load(out / CHECKPOINT_FILE, weights_only=False)  # kept: see the kill-after-outputs test
    assert finished["state"]["stop_reason"] == "max_epochs" and "optimizer" not in finished
    for name in ("model", "history", "predictions", "val_predictions", "metrics", "attention"):
        assert (out / OUTPUT_FILES[name]).exists(), name
    assert metrics["wa"] > 0.5 and metrics["ua"] > 0.5, "synthetic classes are easy; chance is 0.25"
    assert json.loads((out / "metrics.json").read_text())["wa"] == metrics["wa"]
    assert metrics["n_test"] == 24 and metrics["n_left_out"] == {"train": 0, "val": 0, "test": 0}

    history = pl.read_parquet(out / "history.parquet")
    assert history.columns == ["epoch", "train_loss", "val_loss", "val_wa", "val_ua", "lr", "seconds"]
    assert history["epoch"].to_list() == list(range(1, 7))
    predictions = pl.read_parquet(out / "predictions.parquet")
    assert predictions.columns == ["utt_id", "label", "pred", *(f"logp_{c}" for c in CLASSES)]
    probabilities = np.exp(predictions.select(pl.col("^logp_.*$")).to_numpy())
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (predictions["label"] == predictions["pred"]).mean() == pytest.approx(metrics["wa"])

    attention = pl.read_parquet(out / "attention.parquet")
    assert attention.columns == ["utt_id", "frame", "weight"]
    per_utterance = attention.group_by("utt_id").agg(pl.col("weight").sum(), pl.len(), pl.col("frame").max())
    np.testing.assert_allclose(per_utterance["weight"].to_numpy(), 1, atol=1e-5)
    lengths = load_lengths(results, "Session5")
    assert all(lengths[u] == n == last + 1 for u, n, last in per_utterance.select("utt_id", "len", "frame").iter_rows())
    checkpoint = torch.load(out / "model.pt", weights_only=False)
    assert checkpoint["model"] == "blstmatt" and checkpoint["config"]["hidden_size"] == 8
    assert_model_file_reproduces_predictions(results, config, out)


def assert_model_file_reproduces_predictions(results: Path, config: dict, out: Path) -> None:
    """load_trained(model.pt) scores whole test utterances as the run did (CSA: short ones are NaN)."""
    trained = load_trained(out / "model.pt")
    _, matrices = load_utterances(*(job_from_results(results, config, trained.name, "Session5", 1, None, "x")
                                    .__dict__[key] for key in ("manifests", "features", "stats")),
                                  trained.classes, trained.normalisation)
    test_ids = sorted(load_lengths(results, "Session5"))
    feats = [torch.from_numpy(matrices[u]) for u in test_ids]
    x, lengths = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), torch.tensor([len(f) for f in feats])
    with torch.no_grad():
        logp = trained.utterance_log_posteriors(x, lengths).numpy()
    predictions = pl.read_parquet(out / "predictions.parquet")
    scored = [test_ids.index(u) for u in predictions["utt_id"]]
    np.testing.assert_allclose(logp[scored], predictions.select(pl.col("^logp_.*$")).to_numpy(), atol=1e-5)
    unscored = sorted(set(range(len(test_ids))) - set(scored))
    assert np.isnan(logp[unscored]).all() and (trained.name == "csa") == bool(unscored)


def load_lengths(results: Path, session: str) -> dict[str, int]:
    from emocue.features import load_features

    features = load_features(results / "features" / f"{session}.npz")
    return dict(zip(features.utt_ids.tolist(), features.lengths.tolist()))


def test_csa_run_counts_left_out_utterances_and_averages_chunks(results, config, tmp_path):
    out = tmp_path / "csa"
    metrics = train(results, config, out, model="csa", context=30)
    test_lengths = load_lengths(results, "Session5")
    short = [u for u, n in test_lengths.items() if n < 30]
    assert 0 < len(short) < len(test_lengths)
    assert metrics["n_left_out"]["test"] == len(short)
    assert metrics["n_left_out"]["train"] + metrics["n_left_out"]["val"] == sum(
        n < 30 for s in SESSIONS[:4] for n in load_lengths(results, s).values())
    predictions = pl.read_parquet(out / "predictions.parquet")
    assert set(predictions["utt_id"]) == set(test_lengths) - set(short)
    assert metrics["n_test"] == predictions.height

    chunks = pl.read_parquet(out / "chunk_predictions.parquet")
    assert chunks.columns == ["utt_id", "chunk", "start_frame", *(f"logp_{c}" for c in CLASSES)]
    for utt_id, group in chunks.group_by("utt_id"):
        expected = chunk_starts(test_lengths[utt_id[0]], 30, 10)
        assert group["start_frame"].to_list() == expected.tolist()
        assert group["chunk"].to_list() == list(range(len(expected)))
    mean_chunk_logp = chunks.group_by("utt_id").agg(pl.col("^logp_.*$").mean()).sort("utt_id")
    np.testing.assert_allclose(mean_chunk_logp.select(pl.col("^logp_.*$")).to_numpy(),
                               predictions.sort("utt_id").select(pl.col("^logp_.*$")).to_numpy(), atol=1e-9)
    assert_model_file_reproduces_predictions(results, config, out)


def test_same_seed_gives_identical_runs_on_cpu(results, config, tmp_path):
    first = train(results, config, tmp_path / "a", model="csa", context=30)
    second = train(results, config, tmp_path / "b", model="csa", context=30)
    drop_time = lambda m: {k: v for k, v in m.items() if k != "seconds"}  # noqa: E731
    assert drop_time(first) == drop_time(second)
    histories = [pl.read_parquet(tmp_path / run / "history.parquet").drop("seconds") for run in "ab"]
    assert histories[0].equals(histories[1])
    train(results, config, tmp_path / "c", model="csa", context=30, seed=2)
    assert not pl.read_parquet(tmp_path / "c" / "history.parquet").drop("seconds").equals(histories[0])


def test_empty_training_set_for_a_too_long_context_fails_clearly(results, config, tmp_path):
    with pytest.raises(ValueError, match="shorter than C = 500"):
        train(results, config, tmp_path / "csa", model="csa", context=500)


def test_missing_features_name_the_file(results, config, tmp_path):
    broken = tmp_path / "results"
    write_synthetic_corpus(broken, utterances_per_speaker=4)
    manifest = broken / "corpus" / "Session2.parquet"
    table = pl.read_parquet(manifest)
    pl.concat([table, table.head(1).with_columns(utt_id=pl.lit("Ses02F_999"))]).write_parquet(manifest)
    with pytest.raises(ValueError, match=r"Session2.npz has no features for 1 utterances.*snakemake features"):
        train(broken, config, tmp_path / "out")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_device_cuda_without_gpu_fails_clearly_and_auto_falls_back(caplog):
    with pytest.raises(RuntimeError, match="train.device is 'cuda' but PyTorch sees no CUDA GPU"):
        resolve_device("cuda")
    with caplog.at_level("WARNING"):
        assert resolve_device("auto").type == "cpu"
    assert "training on the CPU" in caplog.text


# ---- resume after kill -----------------------------------------------------------------------
def test_killed_training_process_resumes_from_its_checkpoint(results, tmp_path):
    """SIGKILL a real training process after its first checkpoint; the rerun continues from there
    and ends exactly where an uninterrupted run ends."""
    configfile = write_config(tmp_path / "config.yaml",
                              train={"max_epochs": 15, "early_stopping_patience": 15})
    command = [sys.executable, "-m", "emocue.train", "--configfile", str(configfile), "--model", "csa",
               "--context", "30", "--fold", "Session5", "--seed", "1", "--results", str(results)]
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*command, "--out-dir", str(out)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / CHECKPOINT_FILE).exists():
        assert process.poll() is None, f"training ended before its first checkpoint:\n{process.stderr.read()}"
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists(), "the run must have been killed before finishing"
    killed_at = torch.load(out / CHECKPOINT_FILE, weights_only=False)["state"]["epoch"]
    assert 1 <= killed_at < 15

    rerun = subprocess.run([*command, "--out-dir", str(out)], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from {out / CHECKPOINT_FILE} after epoch {killed_at}" in rerun.stderr
    assert f"epoch {killed_at:3d}/15" not in rerun.stderr  # epochs already done are not redone
    assert f"epoch {killed_at + 1:3d}/15" in rerun.stderr
    history = pl.read_parquet(out / "history.parquet")
    assert history["epoch"].to_list() == list(range(1, 16))

    fresh = tmp_path / "uninterrupted"
    subprocess.run([*command, "--out-dir", str(fresh)], env=env, check=True, capture_output=True)
    expected = pl.read_parquet(fresh / "history.parquet").drop("seconds")
    assert history.drop("seconds").equals(expected)
    resumed_metrics, fresh_metrics = (json.loads((d / "metrics.json").read_text()) for d in (out, fresh))
    for key in ("wa", "ua", "macro_f1", "best_epoch"):
        assert resumed_metrics[key] == fresh_metrics[key], key
    assert pl.read_parquet(out / "predictions.parquet").equals(pl.read_parquet(fresh / "predictions.parquet"))
    assert math.isfinite(resumed_metrics["wa"])


def test_checkpoint_of_other_settings_is_not_resumed(results, config, tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"fingerprint": "another run", "state": {}}, out / CHECKPOINT_FILE)
    with caplog.at_level("WARNING"):
        train(results, config, out, model="csa", context=30)
    assert "belongs to a run with other settings" in caplog.text
    assert pl.read_parquet(out / "history.parquet").height == 6


# ---- configs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["workflow/presets/paper.yaml", "config.yaml", "tests/data/tiny.yaml"])
def test_shipped_configs_validate(path):
    config = load_config(REPO / path)
    assert {"train", "blstmatt", "csa", "split"} <= set(config)


def test_paper_preset_has_the_paper_settings():
    config = load_config(REPO / "workflow/presets/paper.yaml")
    assert config["corpus"]["type"] == "iemocap"
    assert config["blstmatt"]["hidden_size"] == 512 and config["blstmatt"]["num_layers"] == 2
    assert config["blstmatt"]["context_size"] == 128 and config["csa"]["channels"] == 128
    assert config["train"]["lr"] == 1e-4
    assert (config["train"]["plateau_patience"], config["train"]["plateau_factor"]) == (4, 0.8)
    assert config["csa"]["contexts"] == list(range(20, 121, 10))
    assert config["split"] == {**config["split"], "scheme": "session5", "test_session": "Session5"}
    assert config["train"]["device"] == "cuda" and config["train"]["gpus"] == 1


# ---- through Snakemake -----------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_workflow_trains_every_run(tiny_run):
    """`rule all` on tests/data/tiny.yaml built one BLSTMATT run and one CSA run per context."""
    config = load_config(REPO / "tests" / "data" / "tiny.yaml")
    runs = [tiny_run / "results/train/blstmatt/Session5/seed1"] + [
        tiny_run / f"results/train/csa/C{c}/Session5/seed1" for c in config["csa"]["contexts"]]
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["epochs"] == config["train"]["max_epochs"] or metrics["stopped_early"]
        assert pl.read_parquet(run / "history.parquet").height == metrics["epochs"]
        assert torch.load(run / CHECKPOINT_FILE, weights_only=False)["state"]["stop_reason"]  # finished, kept
    attention = pl.read_parquet(runs[0] / "attention.parquet")
    sums = attention.group_by("utt_id").agg(pl.col("weight").sum())["weight"].to_numpy()
    np.testing.assert_allclose(sums, 1, atol=1e-5)
    log = (tiny_run / "results/logs/train_blstmatt/Session5/seed1.log").read_text()
    assert "epoch   1/" in log and "test (Session5): WA" in log
