"""Training faults a rerun must survive or report clearly (issue 11.1, 11.6-11.9; docs/reliability.md).

Duplicate utt_ids across sessions, non-finite features, a corrupt checkpoint, a full disk while
checkpointing, a NaN validation loss, a job killed after writing its outputs, and retried logs.
Small synthetic corpora (see test_train.py); about 20 s on 2 cores, plus one slow test through
Snakemake on the tiny config (1-3 min).
"""

from __future__ import annotations

import errno
import io
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch
from conftest import run_snakemake
from test_train import CLASSES, train, write_config, write_synthetic_corpus

from emocue import checkpoint as checkpoint_module
from emocue import layout
from emocue.layout import RESULTS
from emocue.config import load_config
from emocue.features import load_features, save_features
from emocue.train import CHECKPOINT_FILE, OUTPUT_FILES, check_finite, job_from_results, load_utterances, TrainState


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    results = tmp_path_factory.mktemp("faults") / "results"
    write_synthetic_corpus(results, utterances_per_speaker=8)
    return results


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = write_config(tmp_path_factory.mktemp("config") / "config.yaml",
                        train={"max_epochs": 3, "early_stopping_patience": 3})
    return load_config(path)


def job_inputs(results, config):
    job = job_from_results(results, config, "blstmatt", "Session5", 1, None, "unused")
    return job.manifests, job.features, job.stats


def rewrite_session(results, session, change_ids=None, change_feats=None):
    """Rewrite one session's manifest and features with renamed ids and/or edited matrices."""
    manifest = results / "corpus" / f"{session}.parquet"
    features = load_features(results / "features" / f"{session}.npz")
    ids = features.utt_ids.tolist()
    matrices = [features.get(u).copy() for u in ids]
    renamed = dict(change_ids or {})
    for index, edit in (change_feats or {}).items():
        edit(matrices[index])
    table = pl.read_parquet(manifest).with_columns(pl.col("utt_id").replace(renamed))
    table.write_parquet(manifest)
    save_features(results / "features" / f"{session}.npz", [renamed.get(u, u) for u in ids], matrices)


# ---- 11.1: duplicate utt_id across sessions -----------------------------------------------------
def test_loader_refuses_an_utt_id_used_in_two_sessions(tmp_path, config):
    results = tmp_path / "results"
    write_synthetic_corpus(results, utterances_per_speaker=4)
    rewrite_session(results, "Session1", change_ids={"Ses01F_001": "Ses05M_002", "Ses01M_000": "Ses03F_000"})
    with pytest.raises(ValueError) as error:
        load_utterances(*job_inputs(results, config), CLASSES, "speaker")
    message = str(error.value)
    assert "2 utt_id values occur more than once" in message
    assert "Ses05M_002 in Session1, Session5" in message and "Ses03F_000 in Session1, Session3" in message


def test_loader_refuses_non_finite_features_naming_the_utterance(tmp_path, config):
    results = tmp_path / "results"
    write_synthetic_corpus(results, utterances_per_speaker=4)

    def poison(matrix):
        matrix[3, 7] = np.nan

    rewrite_session(results, "Session2", change_feats={5: poison})
    with pytest.raises(ValueError, match=r"Session2\.npz: 1 utterances have NaN or infinite feature values "
                                         r"\(e\.g\. \['Ses02M_001'\]\)"):
        load_utterances(*job_inputs(results, config), CLASSES, "speaker")


# ---- 11.6: corrupt checkpoint, disk full --------------------------------------------------------
@pytest.mark.parametrize("corruption", ["truncated", "not-a-torch-file"])
def test_corrupt_checkpoint_is_moved_aside_and_the_run_trains_from_scratch(results, config, tmp_path, caplog,
                                                                           corruption):
    out = tmp_path / "run"
    out.mkdir()
    path = out / CHECKPOINT_FILE
    if corruption == "truncated":
        torch.save({"fingerprint": "x", "weights": torch.randn(1000)}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_text("not a checkpoint")
    with caplog.at_level("WARNING"):
        train(results, config, out, model="csa", context=30)
    assert f"{path} is unreadable" in caplog.text and f"moved it to {path}.corrupt" in caplog.text
    assert (out / f"{CHECKPOINT_FILE}.corrupt").exists()
    assert pl.read_parquet(out / OUTPUT_FILES["history"])["epoch"].to_list() == [1, 2, 3]


@pytest.mark.slow
def test_workflow_rerun_over_a_truncated_checkpoint_trains_from_scratch(tmp_path):
    """Issue 11.6 through Snakemake: the tiny config up to one CSA run, its kept checkpoint cut to a
    third, the job forced again. Before, every rerun died with PyTorch's `PytorchStreamReader failed
    reading zip archive`; now the job moves the file aside, says so in its log and trains anew. Also
    issue 11.8 for real: Snakemake deletes the job's log before the retry; the first attempt's lines
    survive in the attempt history beside it."""
    workdir = tmp_path / "work"
    target = layout.run_file("model", "csa", "Session5", 1, 30)
    run_snakemake(workdir, "--cores", "2", target)
    run_folder = workdir / layout.run_dir("csa", "Session5", 1, 30)
    checkpoint = run_folder / CHECKPOINT_FILE
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 3])
    run_snakemake(workdir, "--cores", "1", "--forcerun", "train_csa", target)
    logs = workdir / RESULTS / "logs" / "train_csa" / "C30" / "Session5"
    retry = (logs / "seed1.log").read_text()  # Snakemake deleted the first attempt's log
    assert retry.startswith("==== emocue job attempt 2 started ") and "seed1.log.attempts" in retry
    first, _ = (logs / "seed1.log.attempts").read_text().split("\n==== emocue job attempt 2 started ")
    assert "epoch   2/2" in first  # the first attempt is kept in the history
    assert re.search(rf"WARNING .*{CHECKPOINT_FILE} is unreadable \(.*\); moved it to \S*{CHECKPOINT_FILE}\.corrupt "
                     "and training from scratch", retry), retry[-3000:]
    assert (run_folder / f"{CHECKPOINT_FILE}.corrupt").exists()
    assert pl.read_parquet(run_folder / OUTPUT_FILES["history"])["epoch"].to_list() == [1, 2]  # tiny: 2 epochs
    assert torch.load(checkpoint, weights_only=False)["state"]["epoch"] == 2  # a readable one again


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT_FILE
    checkpoint_module.save_atomically({"epoch": 1}, path)

    def full_disk(obj, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(OSError, match=rf"could not write {path} \(No space left on device\); the previous "
                                      "version is intact; free disk space") as error:
        checkpoint_module.save_atomically({"epoch": 2}, path)
    assert error.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE], "no temporary file is left behind"


def test_training_interrupted_by_a_full_disk_resumes_from_the_last_good_checkpoint(results, config, tmp_path,
                                                                                   monkeypatch, caplog):
    out = tmp_path / "run"
    real_save, calls = torch.save, []

    def disk_fills_at_epoch_2(obj, file):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, file)

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_fills_at_epoch_2)
    with pytest.raises(OSError, match="No space left on device"):
        train(results, config, out, model="csa", context=30)
    monkeypatch.undo()
    assert torch.load(out / CHECKPOINT_FILE, weights_only=False)["state"]["epoch"] == 1
    with caplog.at_level("INFO"):
        train(results, config, out, model="csa", context=30)
    assert "after epoch 1" in caplog.text
    assert pl.read_parquet(out / OUTPUT_FILES["history"])["epoch"].to_list() == [1, 2, 3]


# ---- 11.7: NaN validation loss ------------------------------------------------------------------
def test_nan_validation_loss_stops_naming_the_run_the_epoch_and_the_likely_cause(results, tmp_path):
    config = load_config(write_config(tmp_path / "config.yaml", train={"lr": 1e30, "max_epochs": 3}))
    out = tmp_path / "diverged"
    with pytest.raises(RuntimeError) as error:
        train(results, config, out)
    message = str(error.value)
    assert message.startswith(f"run {out} (blstmatt, fold Session5, seed 1): validation loss nan in epoch 1")
    assert "train.lr = 1e+30" in message and "extreme feature values" in message
    assert not (out / OUTPUT_FILES["model"]).exists()


def test_nan_validation_loss_after_a_finite_one_keeps_the_best_epoch(caplog):
    state = TrainState(best_epoch=2, best_state={"w": torch.zeros(1)})
    with caplog.at_level("WARNING"):
        assert check_finite(state, 3, 0.5, float("nan"), "run r", 1e-3) is False
    assert "run r: validation loss nan in epoch 3: stopping; keeping the best epoch 2" in caplog.text
    assert check_finite(TrainState(), 1, 0.5, 0.7, "run r", 1e-3) is True


# ---- 11.9 + 12.3: killed after writing outputs; scoring and device settings -------------------------
def test_run_killed_after_its_outputs_is_finished_without_retraining(results, config, tmp_path, caplog):
    """Snakemake deletes the outputs of a job killed before it exited; the rerun rewrites them from
    the finished checkpoint, also when only the device or scoring settings changed."""
    out = tmp_path / "run"
    train(results, config, out, model="csa", context=30)
    written = {name: (out / OUTPUT_FILES[name]).read_bytes() for name in ("predictions", "history")}
    for name in ("model", "history", "predictions", "val_predictions", "metrics", "chunk_predictions"):
        (out / OUTPUT_FILES[name]).unlink()
    moved = load_config(write_config(tmp_path / "moved.yaml", train={
        "max_epochs": 3, "early_stopping_patience": 3, "device": "auto"}, evaluation={"bootstrap": 50}))
    with caplog.at_level("INFO"):
        train(results, moved, out, model="csa", context=30)
    assert "this run finished training (max_epochs after epoch 3)" in caplog.text
    assert "epoch   1/" not in caplog.text, "no epoch is trained again"
    for name, content in written.items():
        assert pl.read_parquet(out / OUTPUT_FILES[name]).equals(pl.read_parquet(io.BytesIO(content)))
    assert (out / OUTPUT_FILES["model"]).exists() and (out / OUTPUT_FILES["metrics"]).exists()


def test_changed_training_settings_retrain_despite_a_finished_checkpoint(results, config, tmp_path, caplog):
    out = tmp_path / "run"
    train(results, config, out, model="csa", context=30)
    changed = load_config(write_config(tmp_path / "changed.yaml",
                                       train={"max_epochs": 2, "early_stopping_patience": 3}))
    with caplog.at_level("WARNING"):
        train(results, changed, out, model="csa", context=30)
    assert "belongs to a run with other settings" in caplog.text
    assert pl.read_parquet(out / OUTPUT_FILES["history"])["epoch"].to_list() == [1, 2]


# ---- 11.8: a retried job's log ------------------------------------------------------------------------
ATTEMPT = ("from emocue.logs import setup_rule_logging\n"
           "log = setup_rule_logging({path!r})\n"
           "log.info('attempt says {word}')\n"
           "raise RuntimeError('cause of failure {word}')\n")


def run_attempts(log_file, words, delete_log_between=False):
    for word in words:
        if delete_log_between:
            log_file.unlink(missing_ok=True)  # what Snakemake does before every attempt of a job
        subprocess.run([sys.executable, "-c", ATTEMPT.format(path=str(log_file), word=word)], capture_output=True)


def test_a_retried_job_appends_to_its_log_under_a_header_per_attempt(tmp_path):
    log_file = tmp_path / "logs" / "train.log"
    run_attempts(log_file, ("first", "second"))
    text = log_file.read_text()
    assert text.startswith("==== emocue job attempt 1 started ")
    assert "\n==== emocue job attempt 2 started " in text
    first, second = text.split("==== emocue job attempt 2")
    assert "attempt says first" in first and "RuntimeError: cause of failure first" in first
    assert "attempt says second" in second and "RuntimeError: cause of failure second" in second


def test_the_first_failure_survives_snakemake_deleting_the_log_before_a_retry(tmp_path):
    """Snakemake removes a job's log: file before each attempt; the attempt history beside it keeps
    every attempt, and the new log names it."""
    log_file = tmp_path / "logs" / "seed1.log"
    run_attempts(log_file, ("first", "second"), delete_log_between=True)
    history = tmp_path / "logs" / "seed1.log.attempts"
    log = log_file.read_text()
    assert log.startswith("==== emocue job attempt 2 started ")
    assert f"earlier attempts of this job, with their errors: {history}" in log
    assert "cause of failure second" in log and "cause of failure first" not in log
    first, second = history.read_text().split("==== emocue job attempt 2 started ")
    assert first.startswith("==== emocue job attempt 1 started ") and "RuntimeError: cause of failure first" in first
    assert "RuntimeError: cause of failure second" in second


def test_changed_feature_values_retrain_despite_a_finished_checkpoint(tmp_path, config, caplog):
    """Same ids and lengths, one value changed (e.g. one wav re-recorded): the kept checkpoint is stale."""
    results = tmp_path / "results"
    write_synthetic_corpus(results, utterances_per_speaker=4)
    out = tmp_path / "run"
    train(results, config, out, model="csa", context=30)

    def nudge(matrix):
        matrix[0, 0] += 1.0

    rewrite_session(results, "Session2", change_feats={0: nudge})
    with caplog.at_level("WARNING"):
        train(results, config, out, model="csa", context=30)
    assert "belongs to a run with other settings or data" in caplog.text
