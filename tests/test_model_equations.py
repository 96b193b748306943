"""Each model's forward pass recomputed by hand in numpy from the equations in its docstring.

Small sizes, weights set from a seeded generator (scaled so that tanh, ReLU and softmax are far
from linear: dropping one changes the result well beyond the tolerance), float64 models. Also the
precision rules: LSTMs in float32 inside autocast, the masked mean never in float16.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emocue.models import BLSTMATT, CSA, BLSTMATTConfig, CSAConfig
from emocue.models.blstmatt import masked_mean

torch.set_num_threads(1)
# float64 models vs float64 numpy, except that both models take their softmax in float32 on purpose
TOLERANCE = {"atol": 1e-6, "rtol": 1e-6}


def set_weights(model: torch.nn.Module, seed: int, scale: float = 0.8) -> torch.nn.Module:
    """Every parameter and BatchNorm statistic from N(0, scale²) (variances from U(0.5, 2))."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = value
        elif name.endswith("running_var"):
            state[name] = torch.from_numpy(rng.uniform(0.5, 2.0, value.shape))
        else:
            state[name] = torch.from_numpy(rng.normal(scale=scale, size=tuple(value.shape)))
    model.double().load_state_dict(state)
    return model.eval()


def weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().numpy() for name, value in model.state_dict().items()}


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- BLSTMATT (§3.1) -----------------------------------------------------------------------------
def lstm(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """PyTorch's LSTM on x (T, C): gates (i, f, g, o) = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh."""
    W_ih, W_hh = w[f"{prefix}.weight_ih_l0"], w[f"{prefix}.weight_hh_l0"]
    b = w[f"{prefix}.bias_ih_l0"] + w[f"{prefix}.bias_hh_l0"]
    H = W_hh.shape[1]
    h, c, out = np.zeros(H), np.zeros(H), []
    for x_t in x:
        i, f, g, o = np.split(W_ih @ x_t + W_hh @ h + b, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.array(out)  # (T, H)


def blstmatt_by_hand(x: np.ndarray, w: dict[str, np.ndarray], num_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """One utterance x (T, F) without padding -> logits y (K,), attention α (T,)."""
    h = x
    for layer in range(num_layers):
        prefix = f"blstm.layers.{layer}"
        forward = lstm(h, w, f"{prefix}.forward_lstm")
        backward = lstm(h[::-1], w, f"{prefix}.backward_lstm")[::-1]
        h = np.concatenate([forward, backward], axis=1)  # (T, 2H)
    m = h.mean(axis=0)  # global mean over time
    q = np.tanh(w["attention.query.weight"] @ m + w["attention.query.bias"])  # (A,)
    u = np.tanh(h @ w["attention.frame.weight"].T + w["attention.frame.bias"])  # (T, A)
    e = u @ q  # (T,)
    alpha = softmax(e, axis=0)
    c = alpha @ u  # (A,)
    z = np.maximum(w["project.weight"] @ c + w["project.bias"], 0)  # ReLU, (2H,)
    return w["classifier.weight"] @ z + w["classifier.bias"], alpha


def test_blstmatt_forward_follows_its_equations():
    config = BLSTMATTConfig(input_size=5, hidden_size=4, num_layers=2, context_size=3, num_classes=3)
    model = set_weights(BLSTMATT(config), seed=0)
    rng = np.random.default_rng(1)
    lengths = [7, 4, 6]
    x = np.zeros((3, max(lengths), 5))
    for b, length in enumerate(lengths):
        x[b, :length] = rng.normal(size=(length, 5))
    with torch.no_grad():
        output = model(torch.from_numpy(x), torch.tensor(lengths))
    w = weights(model)
    for b, length in enumerate(lengths):
        logits, alpha = blstmatt_by_hand(x[b, :length], w, config.num_layers)
        np.testing.assert_allclose(output.logits[b].numpy(), logits, **TOLERANCE)
        np.testing.assert_allclose(output.attention[b, :length].numpy(), alpha, **TOLERANCE)
        assert np.all(output.attention[b, length:].numpy() == 0)


# ---- CSA (§3.2, Eqs. 1-5) --------------------------------------------------------------------------
def conv_block(x: np.ndarray, w: dict[str, np.ndarray], prefix: str, k: int, pool: bool) -> np.ndarray:
    """k×k "same" conv (no bias; (k-1)//2 zeros before, k//2 after), batch norm (eval), ReLU, 2×2 max-pool."""
    weight = w[f"{prefix}.conv.weight"]  # (Cout, Cin, k, k)
    _, height, width = x.shape
    padded = np.pad(x, ((0, 0), ((k - 1) // 2, k // 2), ((k - 1) // 2, k // 2)))
    y = np.zeros((weight.shape[0], height, width))
    for r in range(height):
        for s in range(width):
            y[:, r, s] = np.tensordot(weight, padded[:, r: r + k, s: s + k], axes=3)
    mean, var = w[f"{prefix}.norm.running_mean"], w[f"{prefix}.norm.running_var"]
    gain, shift = w[f"{prefix}.norm.weight"], w[f"{prefix}.norm.bias"]
    y = (y - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * gain[:, None, None] + shift[:, None, None]
    y = np.maximum(y, 0)
    if pool:
        h2, w2 = y.shape[1] // 2, y.shape[2] // 2
        y = y[:, : 2 * h2, : 2 * w2].reshape(y.shape[0], h2, 2, w2, 2).max(axis=(2, 4))
    return y


def self_attention_by_hand(y: np.ndarray, w: dict[str, np.ndarray], prefix: str = "attention") -> np.ndarray:
    """Eqs. (1)-(5) on y (Ch, N): ŷ = y + γ · l Eᵀ with E = softmax(jᵀ k), each row over positions p."""
    def conv1x1(name):
        return w[f"{prefix}.{name}.weight"][:, :, 0] @ y + w[f"{prefix}.{name}.bias"][:, None]
    j, k, l = conv1x1("to_j"), conv1x1("to_k"), conv1x1("to_l")  # (1), (2), (4)
    E = softmax(j.T @ k, axis=1)  # (3): E_ip, normalised over p for each i
    A = w[f"{prefix}.gamma"][0] * (l @ E.T)  # (5): A_i = γ Σ_p E_ip l_p
    return y + A


def csa_by_hand(chunk: np.ndarray, w: dict[str, np.ndarray], kernel_sizes) -> np.ndarray:
    """One chunk (F, C) -> logits (K,)."""
    y = chunk[None]  # (1, F, C)
    for i, k in enumerate(kernel_sizes):
        y = conv_block(y, w, f"blocks.{i}", k, pool=i < 2)
    y = self_attention_by_hand(y.reshape(y.shape[0], -1), w)  # (Ch, N)
    return w["classifier.weight"] @ y.mean(axis=1) + w["classifier.bias"]


@pytest.mark.parametrize("kernel_sizes", [(3, 2, 3), (5, 3, 4)])
def test_csa_forward_follows_its_equations(kernel_sizes):
    config = CSAConfig(input_size=9, channels=16, kernel_sizes=kernel_sizes, num_classes=3)
    model = set_weights(CSA(config), seed=2, scale=0.5)
    assert model.attention.gamma.item() != 0, "γ = 0 would hide the attention branch"
    chunks = np.random.default_rng(3).normal(size=(2, 9, 13))  # (B, F, C)
    with torch.no_grad():
        output = model(torch.from_numpy(chunks))
    w = weights(model)
    for b in range(len(chunks)):
        np.testing.assert_allclose(output.logits[b].numpy(), csa_by_hand(chunks[b], w, kernel_sizes), **TOLERANCE)


def test_csa_self_attention_layer_follows_eqs_1_to_5():
    model = set_weights(CSA(CSAConfig(channels=16)), seed=4)
    y = np.random.default_rng(5).normal(size=(2, 16, 11))  # (B, Ch, N)
    with torch.no_grad():
        attended = model.attention(torch.from_numpy(y)).numpy()
    w = weights(model)
    for b in range(len(y)):
        np.testing.assert_allclose(attended[b], self_attention_by_hand(y[b], w), **TOLERANCE)


# ---- precision -----------------------------------------------------------------------------------
def test_lstms_run_in_float32_inside_autocast():
    """bf16 autocast reaches the attention and output layers but never the LSTMs."""
    torch.manual_seed(0)
    model = BLSTMATT(BLSTMATTConfig(hidden_size=8, context_size=6)).eval()
    dtypes = {}

    def record(name):
        def hook(module, inputs, output) -> None:
            dtypes[name] = (output[0] if isinstance(output, tuple) else output).dtype
        return hook

    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.LSTM, torch.nn.Linear)):
            module.register_forward_hook(record(name))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.randn(2, 9, 23), torch.tensor([9, 5]))
    lstms = {name: dtype for name, dtype in dtypes.items() if name.endswith("_lstm")}
    assert len(lstms) == 4 and set(lstms.values()) == {torch.float32}, lstms
    assert dtypes["attention.query"] == dtypes["classifier"] == torch.bfloat16
    assert output.attention.dtype == torch.float32  # the softmax is taken in float32
    assert output.log_posteriors().dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_masked_mean_is_exact_for_lengths_above_2048_in_half_precision(dtype):
    lengths = torch.tensor([2049, 3001])
    h = torch.zeros(2, 3001, 1, dtype=dtype)
    h[:, 0] = 1  # mean = 1 / length
    mask = torch.arange(3001)[None, :] < lengths[:, None]
    mean = masked_mean(h, mask)
    assert mean.dtype == torch.float32
    torch.testing.assert_close(mean[:, 0], 1 / lengths.float(), rtol=1e-7, atol=0)
