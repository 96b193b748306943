"""BLSTMATT and CSA: shapes, masking, attention properties, γ = 0 at init, chunking arithmetic.

Tiny models on random inputs; runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from emocue.models import (BLSTMATT, CSA, BLSTMATTConfig, CSAConfig, TrainedModel, build_model, load_trained,
                           model_config)
from emocue.models.blstmatt import reverse_within_lengths
from emocue.models.csa import ConvSelfAttention, chunk_starts, make_chunks

torch.set_num_threads(1)


def tiny_blstmatt(seed: int = 0) -> BLSTMATT:
    torch.manual_seed(seed)
    return BLSTMATT(BLSTMATTConfig(input_size=23, hidden_size=8, num_layers=2, context_size=6)).eval()


def padded(utterances: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = nn.utils.rnn.pad_sequence(utterances, batch_first=True)
    return x, torch.tensor([len(u) for u in utterances])


# ---- BLSTMATT ----------------------------------------------------------------------------------
def test_blstmatt_shapes_and_attention_is_a_distribution_over_valid_frames():
    model = tiny_blstmatt()
    torch.manual_seed(1)
    x, lengths = padded([torch.randn(t, 23) for t in (17, 5, 11)])
    output = model(x, lengths)
    logits, alpha = output.logits, output.attention
    assert logits.shape == (3, 4) and alpha.shape == (3, 17)
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(3))
    for row, length in enumerate(lengths.tolist()):
        assert torch.all(alpha[row, length:] == 0), "attention on padding must be exactly 0"
        assert torch.all(alpha[row, :length] > 0)


@pytest.mark.parametrize("pack", [False, True], ids=["padded-cpu-path", "packed-cuda-path"])
def test_blstmatt_padded_batch_equals_each_utterance_alone(pack):
    model = tiny_blstmatt()
    torch.manual_seed(2)
    utterances = [torch.randn(t, 23) for t in (9, 23, 4, 15)]
    batch = model(*padded(utterances), pack=pack)
    for row, utterance in enumerate(utterances):
        alone = model(utterance[None], torch.tensor([len(utterance)]), pack=False)
        torch.testing.assert_close(batch.logits[row], alone.logits[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch.attention[row, : len(utterance)], alone.attention[0], atol=1e-6, rtol=1e-5)


def test_blstmatt_padding_values_do_not_matter():
    """Garbage in the padded frames changes nothing (per-length reversal + masked mean + softmax)."""
    model = tiny_blstmatt()
    torch.manual_seed(3)
    x, lengths = padded([torch.randn(t, 23) for t in (12, 6)])
    garbage = x.clone()
    garbage[1, 6:] = 1e3
    clean, dirty = model(x, lengths), model(garbage, lengths)
    torch.testing.assert_close(clean.logits, dirty.logits)
    torch.testing.assert_close(clean.attention, dirty.attention)


def test_reverse_within_lengths_keeps_padding_in_place():
    x = torch.arange(10.0).reshape(2, 5, 1)
    reversed_ = reverse_within_lengths(x, torch.tensor([5, 3]))
    assert reversed_[:, :, 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    torch.testing.assert_close(reverse_within_lengths(reversed_, torch.tensor([5, 3])), x)


def test_blstmatt_trains_end_to_end():
    model = tiny_blstmatt().train()
    x, lengths = padded([torch.randn(t, 23) for t in (8, 5)])
    nn.functional.cross_entropy(model(x, lengths).logits, torch.tensor([0, 3])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---- CSA ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("context", [11, 20, 47, 120])
@pytest.mark.parametrize("kernel_sizes", [(5, 3, 3), (2, 4, 6)])
def test_csa_shapes(context, kernel_sizes):
    model = CSA(CSAConfig(channels=8, kernel_sizes=kernel_sizes)).eval()
    chunks = torch.randn(5, 23, context)  # (B, F, C)
    output = model(chunks)
    assert output.logits.shape == (5, 4) and output.attention is None
    assert model(chunks[:, None]).logits.shape == (5, 4)  # (B, 1, F, C) as in the paper


def test_csa_attention_branch_is_a_no_op_at_init():
    torch.manual_seed(0)
    layer = ConvSelfAttention(16)
    assert layer.gamma.item() == 0.0
    y = torch.randn(3, 16, 40)
    torch.testing.assert_close(layer(y), y, atol=0, rtol=0)
    # The whole model equals the same network without the attention layer ...
    model = CSA(CSAConfig(channels=16)).eval()
    x = torch.randn(4, 23, 30)
    with_attention = model(x).logits
    model.attention = nn.Identity()
    torch.testing.assert_close(with_attention, model(x).logits, atol=0, rtol=0)


def test_csa_attention_branch_acts_once_gamma_is_learned():
    torch.manual_seed(0)
    layer = ConvSelfAttention(16)
    y = torch.randn(3, 16, 40)
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    assert not torch.allclose(layer(y), y)
    # γ receives a gradient at 0, so training can switch the branch on.
    layer.gamma.data.zero_()
    layer(y).square().sum().backward()
    assert layer.gamma.grad is not None and layer.gamma.grad.abs().item() > 0


# ---- chunking ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("num_frames", "context", "overlap", "expected"),
    [
        (100, 30, 10, [0, 20, 40, 60]),  # 60 + 30 = 90 ≤ 100; 80 + 30 > 100
        (90, 30, 10, [0, 20, 40, 60]),  # the last chunk ends exactly at T
        (30, 30, 10, [0]),
        (29, 30, 10, []),  # shorter than C: left out
        (50, 20, 0, [0, 20]),
        (25, 11, 10, list(range(15))),  # hop 1
    ],
)
def test_chunk_starts(num_frames, context, overlap, expected):
    starts = chunk_starts(num_frames, context, overlap)
    assert starts.tolist() == expected
    if len(expected):
        assert len(starts) == 1 + (num_frames - context) // (context - overlap)


def test_chunk_starts_rejects_overlap_not_shorter_than_context():
    with pytest.raises(ValueError, match="longer than overlap"):
        chunk_starts(100, 10, 10)


def test_make_chunks_content_overlap_and_left_out():
    rng = np.random.default_rng(0)
    matrices = [rng.normal(size=(t, 23)).astype(np.float32) for t in (100, 12, 50, 30)]
    chunks = make_chunks(matrices, context=30, overlap=10)
    assert chunks.left_out.tolist() == [1]
    assert chunks.utterance.tolist() == [0, 0, 0, 0, 2, 2, 3]
    assert chunks.starts.tolist() == [0, 20, 40, 60, 0, 20, 0]
    assert chunks.data.shape == (7, 23, 30) and chunks.data.dtype == np.float32
    for data, owner, start in zip(chunks.data, chunks.utterance, chunks.starts):
        np.testing.assert_array_equal(data, matrices[owner][start : start + 30].T)
    # consecutive chunks of one utterance share exactly `overlap` frames
    np.testing.assert_array_equal(chunks.data[0][:, 20:], chunks.data[1][:, :10])


# ---- building from config ----------------------------------------------------------------------
def test_model_config_from_config_section_ignores_training_keys():
    cfg = model_config("csa", {"channels": 8, "kernel_sizes": [3, 3, 3], "batch_size": 64, "contexts": [20]},
                       num_classes=3)
    assert cfg == CSAConfig(channels=8, kernel_sizes=(3, 3, 3), num_classes=3)
    assert isinstance(build_model("csa", cfg), CSA)
    blstm = model_config("blstmatt", {"hidden_size": 512, "num_layers": 2, "context_size": 128})
    model = build_model("blstmatt", blstm)
    assert model.blstm.layers[1].forward_lstm.hidden_size == 512 and model.project.out_features == 1024


# ---- a trained run's model.pt ----------------------------------------------------------------------
def test_trained_model_round_trip_scores_utterances_as_training_does(tmp_path):
    """model.pt -> load_trained: CSA's utterance log-posteriors are the mean over make_chunks' chunks,
    utterances shorter than C are NaN, and gradients reach the input (for attribution methods)."""
    torch.manual_seed(0)
    model = CSA(CSAConfig(channels=8)).eval()
    torch.save(TrainedModel("csa", model, ["a", "b", "c", "d"], "speaker", 30, 10, 3).to_dict(), tmp_path / "model.pt")
    trained = load_trained(tmp_path / "model.pt")
    assert (trained.name, trained.context, trained.overlap, trained.best_epoch) == ("csa", 30, 10, 3)
    utterances = [torch.randn(t, 23) for t in (75, 29, 30)]
    x, lengths = padded(utterances)
    x.requires_grad_(True)
    logp = trained.utterance_log_posteriors(x, lengths)
    chunks = make_chunks([u.numpy() for u in utterances], 30, 10)
    with torch.no_grad():
        chunk_logp = model(torch.from_numpy(chunks.data)).log_posteriors()
    for row in (0, 2):
        torch.testing.assert_close(logp[row], chunk_logp[torch.from_numpy(chunks.utterance == row)].mean(0))
    assert torch.isnan(logp[1]).all(), "29 frames < C: no chunk"
    logp[0].sum().backward()
    assert x.grad[0].abs().sum() > 0 and x.grad[2].abs().sum() == 0


def test_trained_blstmatt_scores_are_its_log_softmax(tmp_path):
    model = tiny_blstmatt()
    torch.save(TrainedModel("blstmatt", model, ["a", "b", "c", "d"], "speaker", None, None, 1).to_dict(),
               tmp_path / "model.pt")
    trained = load_trained(tmp_path / "model.pt")
    x, lengths = padded([torch.randn(t, 23) for t in (12, 7)])
    torch.testing.assert_close(trained.utterance_log_posteriors(x, lengths),
                               model(x, lengths).logits.log_softmax(-1))
