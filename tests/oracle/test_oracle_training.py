"""The oracle's recurrences, losses, metrics, optimizers, finite differences and trajectories.

Expectations are worked out by hand (scalar arithmetic in the test, derivations in comments).
The few literals marked "Keras" were produced with real Keras 3.15.1 (JAX backend, float32)
in a throwaway environment, as an independent check of the hand derivations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import harness.conformance.oracle as oracle

# Import the formula modules directly so they are registered whatever was imported first.
from harness.conformance.oracle import (  # noqa: F401
    activations,
    core,
    losses,
    normalization,
    numeric,
    optimizers,
    recurrent,
    training,
)
from harness.errors import UsageError


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def seq(*values: float) -> np.ndarray:
    """A (1, time, 1) sequence: one sample, one feature."""
    return np.array(values, dtype=float).reshape(1, -1, 1)


def rnn(kind, config, weights, x, mask=None):
    return oracle.forward(kind, config, [np.asarray(w, dtype=float) for w in weights], x, mask=mask)


# A linear SimpleRNN with h_t = x_t + 0.5 * h_{t-1}: easy to follow by hand.
LINEAR_RNN = {"units": 1, "activation": "linear", "return_sequences": True}
LINEAR_W = [[[1.0]], [[0.5]], [0.0]]


# --- LSTM / GRU cells ---------------------------------------------------------------------

LSTM_W = [[[0.5, -0.3, 0.8, 0.1]], [[0.2, 0.4, -0.6, 0.3]], [0.1, 1.0, 0.0, -0.2]]


def test_lstm_two_steps_by_hand():
    # gates in Keras order i, f, c, o; column k of kernel/recurrent/bias feeds gate k
    x1, x2 = 1.0, -2.0
    i = sig(0.5 * x1 + 0.1)
    f = sig(-0.3 * x1 + 1.0)
    o = sig(0.1 * x1 - 0.2)
    c1 = f * 0.0 + i * math.tanh(0.8 * x1)
    h1 = o * math.tanh(c1)
    i = sig(0.5 * x2 + 0.2 * h1 + 0.1)
    f = sig(-0.3 * x2 + 0.4 * h1 + 1.0)
    g = math.tanh(0.8 * x2 - 0.6 * h1)
    o = sig(0.1 * x2 + 0.3 * h1 - 0.2)
    c2 = f * c1 + i * g
    h2 = o * math.tanh(c2)
    out, h, c = rnn(
        "LSTM", {"units": 1, "return_sequences": True, "return_state": True}, LSTM_W, seq(x1, x2)
    )
    np.testing.assert_allclose(out.ravel(), [h1, h2], rtol=1e-12)
    np.testing.assert_allclose(h.ravel(), [h2], rtol=1e-12)
    np.testing.assert_allclose(c.ravel(), [c2], rtol=1e-12)
    # Keras: outputs [0.19203542, 0.03431317], carry state 0.08282558
    np.testing.assert_allclose(out.ravel(), [0.19203542, 0.03431317], atol=1e-7)
    np.testing.assert_allclose(c.ravel(), [0.08282558], atol=1e-7)


GRU_KERNEL, GRU_RECURRENT = [[0.5, -0.4, 0.9]], [[0.3, 0.6, -0.7]]


def test_gru_reset_after_two_steps_by_hand():
    # order z, r, h; bias rows are [input bias; recurrent bias]
    bi, br = (0.1, 0.2, -0.1), (0.05, -0.3, 0.25)
    h = 0.0
    expected = []
    for x in (1.0, -2.0):
        z = sig(0.5 * x + bi[0] + 0.3 * h + br[0])
        r = sig(-0.4 * x + bi[1] + 0.6 * h + br[1])
        cand = math.tanh(0.9 * x + bi[2] + r * (-0.7 * h + br[2]))
        h = z * h + (1 - z) * cand
        expected.append(h)
    out = rnn(
        "GRU",
        {"units": 1, "return_sequences": True},
        [GRU_KERNEL, GRU_RECURRENT, [bi, br]],
        seq(1.0, -2.0),
    )
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.ravel(), [0.24474117, -0.57445449], atol=1e-7)  # Keras


def test_gru_reset_before_two_steps_by_hand():
    b = (0.1, 0.2, -0.1)
    h = 0.0
    expected = []
    for x in (1.0, -2.0):
        z = sig(0.5 * x + b[0] + 0.3 * h)
        r = sig(-0.4 * x + b[1] + 0.6 * h)
        cand = math.tanh(0.9 * x + b[2] + (-0.7) * (r * h))
        h = z * h + (1 - z) * cand
        expected.append(h)
    out = rnn(
        "GRU",
        {"units": 1, "return_sequences": True, "reset_after": False},
        [GRU_KERNEL, GRU_RECURRENT, b],
        seq(1.0, -2.0),
    )
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.ravel(), [0.23529725, -0.60090160], atol=1e-7)  # Keras


def test_recurrent_weight_shapes_are_checked():
    with pytest.raises(UsageError):
        rnn("GRU", {"units": 1}, [GRU_KERNEL, GRU_RECURRENT, [0.1, 0.2, 0.3]], seq(1.0))
    with pytest.raises(UsageError):
        rnn("LSTM", {"units": 2}, LSTM_W, seq(1.0))


# --- masking and go_backwards -------------------------------------------------------------


def test_masked_steps_carry_state_and_repeat_output():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 1.0, 1.0, 1.0]])[..., None]
    mask = np.array([[True, False, True, False], [False, True, True, True]])
    out = rnn("SimpleRNN", LINEAR_RNN, LINEAR_W, x, mask=mask)
    # row 0: 1; masked -> repeat 1 (state stays 1); 3 + 0.5 = 3.5; masked -> 3.5
    # row 1: masked before any step -> 0 (state 0); 1; 1 + 0.5; 1 + 0.75
    np.testing.assert_allclose(out[..., 0], [[1.0, 1.0, 3.5, 3.5], [0.0, 1.0, 1.5, 1.75]])


def test_masked_lstm_equals_lstm_on_the_unmasked_steps():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(2, 12)), rng.normal(size=(3, 12)), rng.normal(size=12)]
    x = rng.normal(size=(1, 5, 2))
    mask = np.array([[True, False, True, True, False]])
    cfg = {"units": 3, "return_state": True}
    masked = rnn("LSTM", cfg, weights, x, mask=mask)
    kept = rnn("LSTM", cfg, weights, x[:, mask[0]])
    for a, b in zip(masked, kept, strict=True):  # last output, h and c all match
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_go_backwards_returns_outputs_in_processing_order():
    cfg = dict(LINEAR_RNN, go_backwards=True)
    out = rnn("SimpleRNN", cfg, LINEAR_W, seq(1.0, 2.0, 3.0))
    # processes 3, 2, 1: 3; 2 + 1.5 = 3.5; 1 + 1.75 = 2.75 -- not re-reversed
    np.testing.assert_allclose(out.ravel(), [3.0, 3.5, 2.75])
    last = rnn("SimpleRNN", dict(cfg, return_sequences=False), LINEAR_W, seq(1.0, 2.0, 3.0))
    np.testing.assert_allclose(last.ravel(), [2.75])
    # the mask follows the time step: step 3 (processed first) is masked -> 0 output, state 0
    masked = rnn("SimpleRNN", cfg, LINEAR_W, seq(1.0, 2.0, 3.0), mask=np.array([[1, 1, 0]]))
    np.testing.assert_allclose(masked.ravel(), [0.0, 2.0, 2.0])


# --- Bidirectional and TimeDistributed ----------------------------------------------------

BACKWARD_W = [[[2.0]], [[0.0]], [0.0]]  # h_t = 2 x_t


def bi_config(merge_mode="concat", **inner):
    return {
        "layer": {"class_name": "SimpleRNN", "config": dict(LINEAR_RNN, **inner)},
        "merge_mode": merge_mode,
    }


def test_bidirectional_concat_by_hand():
    out = rnn("Bidirectional", bi_config(), LINEAR_W + BACKWARD_W, seq(1.0, 2.0, 3.0))
    # forward [1, 2.5, 4.25]; backward processes 3,2,1 -> [6,4,2], flipped back -> [2,4,6]
    assert out.shape == (1, 3, 2)
    np.testing.assert_allclose(out[0], [[1.0, 2.0], [2.5, 4.0], [4.25, 6.0]])
    summed = rnn("Bidirectional", bi_config("sum"), LINEAR_W + BACKWARD_W, seq(1.0, 2.0, 3.0))
    np.testing.assert_allclose(summed.ravel(), [3.0, 6.5, 10.25])
    pair = rnn("Bidirectional", bi_config(None), LINEAR_W + BACKWARD_W, seq(1.0, 2.0, 3.0))
    np.testing.assert_allclose(pair[1].ravel(), [2.0, 4.0, 6.0])


def test_bidirectional_masked_sequences_output_zeros():
    # Keras forces zero_output_for_mask when returning sequences
    out = rnn(
        "Bidirectional",
        bi_config(),
        LINEAR_W + BACKWARD_W,
        seq(1.0, 2.0, 3.0),
        mask=np.array([[True, True, False]]),
    )
    np.testing.assert_allclose(out[0], [[1.0, 2.0], [2.5, 4.0], [0.0, 0.0]])


def test_bidirectional_lstm_equals_forward_and_reversed_backward_runs():
    rng = np.random.default_rng(1)
    fw = [rng.normal(size=(2, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)]
    bw = [rng.normal(size=(2, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)]
    x = rng.normal(size=(3, 4, 2))
    inner = {"units": 2, "return_sequences": True, "return_state": True}
    config = {"layer": {"class_name": "LSTM", "config": inner}, "merge_mode": "concat"}
    out, fh, fc, bh, bc = rnn("Bidirectional", config, fw + bw, x)
    f_seq, f_h, f_c = rnn("LSTM", inner, fw, x)
    b_seq, b_h, b_c = rnn("LSTM", dict(inner, go_backwards=True), bw, x)
    assert out.shape == (3, 4, 4)
    np.testing.assert_allclose(out, np.concatenate([f_seq, b_seq[:, ::-1]], axis=-1))
    for got, want in zip((fh, fc, bh, bc), (f_h, f_c, b_h, b_c), strict=True):
        np.testing.assert_allclose(got, want)


def test_bidirectional_rejects_a_backwards_inner_layer():
    with pytest.raises(UsageError):
        rnn("Bidirectional", bi_config(go_backwards=True), LINEAR_W + BACKWARD_W, seq(1.0))


def test_time_distributed_dense_applies_per_step():
    kernel = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, 1.0]])
    bias = np.array([0.1, 0.2, 0.3])
    x = np.arange(12.0).reshape(2, 3, 2)
    config = {"layer": {"class_name": "Dense", "config": {"units": 3, "activation": "relu"}}}
    out = rnn("TimeDistributed", config, [kernel, bias], x)
    assert out.shape == (2, 3, 3)
    # sample 0, step 1: x = [2, 3] -> [2+6+.1, -2+.2, 1+3+.3] -> relu
    np.testing.assert_allclose(out[0, 1], [8.1, 0.0, 4.3])
    np.testing.assert_allclose(out, np.maximum(np.einsum("bti,iu->btu", x, kernel) + bias, 0))


def test_recurrent_output_mask_follows_return_sequences():
    mask = np.array([[True, False]])
    assert core.compute_mask("LSTM", {"units": 1}, seq(1.0, 2.0), mask) is None
    np.testing.assert_array_equal(
        core.compute_mask("GRU", {"units": 1, "return_sequences": True}, seq(1.0, 2.0), mask), mask
    )


# --- losses and metrics -------------------------------------------------------------------

T2, P2 = [[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [2.0, 5.0]]


def test_regression_losses_by_hand():
    # squared errors [[1, 0], [0, 4]] -> per sample [0.5, 2]; absolute [[1,0],[0,2]] -> [0.5, 1]
    np.testing.assert_allclose(losses.per_sample("mse", T2, P2), [0.5, 2.0])
    assert losses.loss("mean_squared_error", T2, P2) == pytest.approx(1.25)
    assert losses.loss("mae", T2, P2) == pytest.approx(0.75)
    assert losses.loss("mse", T2, P2, reduction="sum") == pytest.approx(2.5)
    # y_true (2,) against y_pred (2, 1): Keras expands y_true -> errors 0.5, -1
    assert losses.loss("mse", [1.0, 2.0], [[1.5], [1.0]]) == pytest.approx(0.625)
    # huber errors 0.5 and 2: 0.5*0.25 = 0.125; 1*2 - 0.5 = 1.5 (delta 1); 0.5*4 = 2 (delta 2.5)
    assert losses.loss("huber", [[0.0, 0.0]], [[0.5, 2.0]]) == pytest.approx(0.8125)
    assert losses.loss("huber", [[0.0, 0.0]], [[0.5, 2.0]], delta=2.5) == pytest.approx(1.0625)


def test_hinge_converts_binary_labels():
    # labels 0/1 -> -1/1: max(1 + 0.3, 0) = 1.3, max(1 - 0.4, 0) = 0.6
    assert losses.loss("hinge", [[0.0, 1.0]], [[0.3, 0.4]]) == pytest.approx(0.95)
    assert losses.loss("hinge", [[-1.0, 1.0]], [[0.3, 0.4]]) == pytest.approx(0.95)
    assert losses.loss("hinge", [[0.5, 1.0]], [[2.0, 0.4]]) == pytest.approx(0.3)  # unconverted


def test_kl_divergence_clips_to_epsilon():
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert losses.loss("kld", [[0.5, 0.5]], [[0.25, 0.75]]) == pytest.approx(expected, rel=1e-12)
    expected = math.log(2.0) + 1e-7 * math.log(1e-7 / 0.5)
    assert losses.loss("kl_divergence", [[1.0, 0.0]], [[0.5, 0.5]]) == pytest.approx(
        expected, rel=1e-12
    )


def test_binary_crossentropy_by_hand():
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert losses.loss("binary_crossentropy", [[1.0, 0.0]], [[0.8, 0.4]]) == pytest.approx(expected)
    # smoothing 0.2 squeezes labels to 0.9 / 0.1
    smooth = (
        -(0.9 * math.log(0.8) + 0.1 * math.log(0.2) + 0.1 * math.log(0.4) + 0.9 * math.log(0.6)) / 2
    )
    assert losses.loss(
        "binary_crossentropy", [[1.0, 0.0]], [[0.8, 0.4]], label_smoothing=0.2
    ) == pytest.approx(smooth)
    # certain, correct probabilities are clipped to 1 - 1e-7, not log(1) = 0
    clipped = losses.loss("binary_crossentropy", [[1.0, 0.0]], [[1.0, 0.0]])
    assert clipped == pytest.approx(-math.log(1.0 - 1e-7), rel=1e-9)


def test_binary_crossentropy_from_logits_is_exact_and_finite():
    # moderate logits: identical to the probability form, where no clipping happens
    logits = [[2.0, -1.0]]
    probs = [[sig(2.0), sig(-1.0)]]
    assert losses.loss(
        "binary_crossentropy", [[1.0, 0.0]], logits, from_logits=True
    ) == pytest.approx(losses.loss("binary_crossentropy", [[1.0, 0.0]], probs), rel=1e-12)
    # huge logits: right answers 0, 1e4, 1e4, 0 -> mean 5000; probabilities would clip
    value = losses.loss(
        "binary_crossentropy", [[1.0, 0.0, 1.0, 0.0]], [[1e4, 1e4, -1e4, -1e4]], from_logits=True
    )
    assert math.isfinite(value) and value == pytest.approx(5000.0, rel=1e-12)


def test_categorical_crossentropy_by_hand():
    assert losses.loss("categorical_crossentropy", [[0, 1, 0]], [[0.2, 0.5, 0.3]]) == pytest.approx(
        -math.log(0.5)
    )
    # rows are renormalised first: [1, 2, 1] -> [0.25, 0.5, 0.25]
    assert losses.loss("categorical_crossentropy", [[0, 1, 0]], [[1.0, 2.0, 1.0]]) == pytest.approx(
        -math.log(0.5)
    )
    # smoothing 0.3 over 3 classes: labels [0.1, 0.8, 0.1]
    expected = -(0.1 * math.log(0.2) + 0.8 * math.log(0.5) + 0.1 * math.log(0.3))
    assert losses.loss(
        "categorical_crossentropy", [[0, 1, 0]], [[0.2, 0.5, 0.3]], label_smoothing=0.3
    ) == pytest.approx(expected)


def test_categorical_crossentropy_from_logits_is_exact_and_finite():
    logits = np.array([[1.0, 2.0, 3.0]])
    probs = np.exp(logits) / np.exp(logits).sum()
    assert losses.loss(
        "categorical_crossentropy", [[0, 0, 1]], logits, from_logits=True
    ) == pytest.approx(losses.loss("categorical_crossentropy", [[0, 0, 1]], probs), rel=1e-12)
    big = [[1e4, 0.0, -1e4]]
    assert losses.loss("categorical_crossentropy", [[1, 0, 0]], big, from_logits=True) == 0.0
    assert losses.loss(
        "categorical_crossentropy", [[0, 0, 1]], big, from_logits=True
    ) == pytest.approx(2e4, rel=1e-12)
    assert losses.loss(
        "sparse_categorical_crossentropy", [2], big, from_logits=True
    ) == pytest.approx(2e4, rel=1e-12)


def test_sparse_categorical_crossentropy_by_hand():
    probs = [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]
    expected = -(math.log(0.5) + math.log(0.6)) / 2
    assert losses.loss("sparse_categorical_crossentropy", [1, 0], probs) == pytest.approx(expected)
    assert losses.loss("sparse_categorical_crossentropy", [[1], [0]], probs) == pytest.approx(
        expected
    )
    with pytest.raises(UsageError):
        losses.loss("sparse_categorical_crossentropy", [3, 0], probs)


def test_unknown_loss_and_option_are_usage_errors():
    with pytest.raises(UsageError):
        losses.loss("cosine_hinge", T2, P2)
    with pytest.raises(UsageError):
        losses.loss("mse", T2, P2, from_logits=True)


def test_keras_loss_config_keys_are_accepted():
    config = {
        "name": "binary_crossentropy",
        "reduction": "sum_over_batch_size",
        "from_logits": True,
        "label_smoothing": 0.0,
        "axis": -1,
    }
    assert losses.loss("binary_crossentropy", [[1.0]], [[0.0]], **config) == pytest.approx(
        math.log(2.0)
    )


def test_metrics_by_hand():
    # 0.6 > 0.5 -> 1 (right); 0.5 is not above -> 0 (right); 0.4 -> 0 (wrong); 0.1 (right)
    assert (
        losses.metric("binary_accuracy", [[1], [0], [1], [0]], [[0.6], [0.5], [0.4], [0.1]]) == 0.75
    )
    assert losses.metric("categorical_accuracy", [[0, 1], [1, 0]], [[0.3, 0.7], [0.2, 0.8]]) == 0.5
    assert losses.metric("sparse_categorical_accuracy", [1, 0], [[0.3, 0.7], [0.2, 0.8]]) == 0.5
    assert losses.metric("sparse_categorical_accuracy", [[1], [1]], [[0.3, 0.7], [0.2, 0.8]]) == 1
    assert losses.metric("accuracy", [1, 2, 3], [1, 2, 4]) == pytest.approx(2 / 3)


def test_loss_gradients_by_hand():
    # mse: 2 (p - t) / number of elements = 2 * [[1, 0], [0, 2]] / 4
    np.testing.assert_allclose(losses.loss_grad("mse", T2, P2), [[0.5, 0.0], [0.0, 1.0]])
    # mae: sign / 4, and 0 where p == t
    np.testing.assert_allclose(losses.loss_grad("mae", T2, P2), [[0.25, 0.0], [0.0, 0.25]])
    # bce from logits: (sigmoid(x) - t) / n
    np.testing.assert_allclose(
        losses.loss_grad("binary_crossentropy", [[1.0, 0.0]], [[0.0, 2.0]], from_logits=True),
        [[(0.5 - 1.0) / 2, sig(2.0) / 2]],
    )
    # cce from logits: softmax - t, averaged over samples; huge logits stay finite
    grad = losses.loss_grad(
        "categorical_crossentropy", [[0, 0, 1]], [[1e4, 0.0, -1e4]], from_logits=True
    )
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]])
    with pytest.raises(UsageError):
        losses.loss_grad("kld", T2, P2)


@pytest.mark.parametrize(
    "name, config, labels",
    [
        ("mse", {}, "real"),
        ("mae", {}, "real"),
        ("huber", {"delta": 0.7}, "real"),
        ("hinge", {}, "binary"),
        ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary"),
        ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot"),
        ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse"),
    ],
)
def test_loss_gradients_match_central_differences(name, config, labels):
    rng = np.random.default_rng(2)
    y_pred = rng.normal(size=(4, 3)) * 2
    y_true = {
        "real": rng.normal(size=(4, 3)),
        "binary": (rng.random((4, 3)) > 0.5).astype(float),
        "onehot": np.eye(3)[[0, 2, 1, 2]],
        "sparse": np.array([0, 2, 1, 2]),
    }[labels]
    numerical = numeric.central_difference(
        lambda p: losses.loss(name, y_true, p, **config), [y_pred]
    )[0]
    np.testing.assert_allclose(
        losses.loss_grad(name, y_true, y_pred, **config), numerical, atol=1e-8
    )


# --- optimizers: two steps on w = 1 with gradients 0.5 then -1 -----------------------------


def two_steps(name, /, grads=(0.5, -1.0), **config):
    params = [np.array([1.0])]
    state = optimizers.init_state(name, params, **config)
    trace = []
    for g in grads:
        params, state = optimizers.step(name, params, [np.array([g])], state, **config)
        trace.append(float(params[0][0]))
    return trace, state


def test_sgd_plain_momentum_and_nesterov():
    assert two_steps("SGD", learning_rate=0.1)[0] == pytest.approx([0.95, 1.05])
    # m1 = -0.05 -> w 0.95; m2 = 0.9 * -0.05 + 0.1 = 0.055 -> w 1.005
    assert two_steps("sgd", learning_rate=0.1, momentum=0.9)[0] == pytest.approx([0.95, 1.005])
    # nesterov: w += 0.9 m - lr g: 1 - 0.045 - 0.05 = 0.905; 0.905 + 0.0495 + 0.1 = 1.0545
    trace, _ = two_steps("sgd", learning_rate=0.1, momentum=0.9, nesterov=True)
    assert trace == pytest.approx([0.905, 1.0545])
    assert two_steps("sgd")[0] == pytest.approx([0.995, 1.005])  # default lr 0.01


def test_adam_two_steps_by_hand():
    # step 1: m = 0.05, v = 0.00025, alpha = 0.1 * sqrt(0.001) / 0.1
    w1 = 1.0 - 0.05 * math.sqrt(0.001) / (math.sqrt(0.00025) + 1e-7)
    # step 2: m = 0.045 - 0.1, v = 0.999 * 0.00025 + 0.001, alpha = 0.1 sqrt(1-.999^2)/(1-.81)
    alpha2 = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    w2 = w1 - (-0.055) * alpha2 / (math.sqrt(0.00124975) + 1e-7)
    trace, state = two_steps("Adam", learning_rate=0.1)
    assert trace == pytest.approx([w1, w2], rel=1e-12)
    assert trace == pytest.approx([0.9000006324515321, 0.9366108815953381], rel=1e-12)
    assert state["iterations"] == 2


def test_adam_amsgrad_keeps_the_largest_velocity():
    # gradients 1 then 0: v1 = 0.001, v2 = 0.000999 < v1, so AMSGrad divides by sqrt(0.001)
    m2, alpha2 = 0.09, 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    w1 = 1.0 - 0.1 * math.sqrt(0.001) / 0.1 * 0.1 / (math.sqrt(0.001) + 1e-7)
    trace, state = two_steps("adam", grads=(1.0, 0.0), learning_rate=0.1, amsgrad=True)
    assert trace == pytest.approx([w1, w1 - m2 * alpha2 / (math.sqrt(0.001) + 1e-7)], rel=1e-12)
    plain, _ = two_steps("adam", grads=(1.0, 0.0), learning_rate=0.1)
    assert plain[1] == pytest.approx(w1 - m2 * alpha2 / (math.sqrt(0.000999) + 1e-7), rel=1e-12)
    np.testing.assert_allclose(state["velocity_hat"][0], [0.001])


def test_rmsprop_two_steps_by_hand():
    # v1 = 0.1 * 0.25 = 0.025; v2 = 0.0225 + 0.1 = 0.1225; epsilon inside the root
    w1 = 1.0 - 0.01 * 0.5 / math.sqrt(0.025 + 1e-7)
    w2 = w1 + 0.01 * 1.0 / math.sqrt(0.1225 + 1e-7)
    assert two_steps("RMSprop", learning_rate=0.01)[0] == pytest.approx([w1, w2], rel=1e-12)


def test_rmsprop_centered_with_momentum_by_hand():
    # a1 = 0.05, v1 = 0.025: inc1 = 0.01 * 0.5 / sqrt(0.025 - 0.0025 + eps); m1 = inc1
    inc1 = 0.005 / math.sqrt(0.025 - 0.05**2 + 1e-7)
    # a2 = 0.045 - 0.1 = -0.055, v2 = 0.1225: inc2 = -0.01 / sqrt(0.1225 - 0.055^2 + eps)
    inc2 = -0.01 / math.sqrt(0.1225 - 0.055**2 + 1e-7)
    m2 = 0.5 * inc1 + inc2
    trace, _ = two_steps("rmsprop", learning_rate=0.01, momentum=0.5, centered=True)
    assert trace == pytest.approx([1.0 - inc1, 1.0 - inc1 - m2], rel=1e-12)


def test_adagrad_two_steps_by_hand():
    # accumulator starts at 0.1: 0.35, then 1.35
    w1 = 1.0 - 0.1 * 0.5 / math.sqrt(0.35 + 1e-7)
    w2 = w1 + 0.1 * 1.0 / math.sqrt(1.35 + 1e-7)
    assert two_steps("Adagrad", learning_rate=0.1)[0] == pytest.approx([w1, w2], rel=1e-12)


def test_clipping_and_weight_decay():
    # clipnorm 0.3 scales the gradient 0.5 to 0.3; weight decay first shrinks w by lr * wd
    trace, _ = two_steps("sgd", grads=(0.5,), learning_rate=0.1, clipnorm=0.3)
    assert trace == pytest.approx([0.97])
    trace, _ = two_steps("sgd", grads=(0.5,), learning_rate=0.1, weight_decay=0.2)
    assert trace == pytest.approx([1.0 - 0.02 - 0.05])
    # global clipnorm over [3, 4] (norm 5) to 1 -> [0.6, 0.8]
    params, _ = optimizers.step(
        "sgd",
        [np.zeros(1), np.zeros(1)],
        [np.array([3.0]), np.array([4.0])],
        {"iterations": 0},
        learning_rate=1.0,
        global_clipnorm=1.0,
    )
    np.testing.assert_allclose(np.concatenate(params), [-0.6, -0.8])


def test_optimizer_accepts_keras_config_and_rejects_the_unmodelled():
    config = {
        "name": "adam",
        "learning_rate": 0.1,
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "ema_momentum": 0.99,
        "ema_overwrite_frequency": None,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-07,
        "amsgrad": False,
    }
    assert two_steps("adam", **config)[0][0] == pytest.approx(0.9000006324515321, rel=1e-12)
    with pytest.raises(UsageError):
        optimizers.init_state("adam", [np.zeros(1)], use_ema=True)
    with pytest.raises(UsageError):
        optimizers.init_state("sgd", [np.zeros(1)], rho=0.9)
    with pytest.raises(UsageError):
        optimizers.init_state("lion", [np.zeros(1)])


# --- finite differences -------------------------------------------------------------------


def test_central_differences_of_a_quadratic():
    rng = np.random.default_rng(3)
    a, v = rng.normal(size=(3, 3)), rng.normal(size=3) * 100

    def f(a, v):
        return v @ a @ v + np.sum(a * a)

    grad_a, grad_v = numeric.central_difference(f, [a, v])
    np.testing.assert_allclose(grad_a, np.outer(v, v) + 2 * a, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(grad_v, (a + a.T) @ v, rtol=1e-7)
    before = a.copy()
    numeric.central_difference(f, [a, v])
    np.testing.assert_array_equal(a, before)  # inputs are left untouched


def test_vjp_by_finite_differences_of_a_matrix_product():
    rng = np.random.default_rng(4)
    a, v, cot = rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2)
    grad_a, grad_v = numeric.vjp_by_finite_differences(lambda a, v: a @ v, [a, v], cot)
    np.testing.assert_allclose(grad_a, np.outer(cot, v), atol=1e-9)
    np.testing.assert_allclose(grad_v, a.T @ cot, atol=1e-9)
    with pytest.raises(UsageError):
        numeric.central_difference(lambda a: a, [a])  # not a scalar function


# --- trajectories -------------------------------------------------------------------------

DENSE = [("Dense", {"units": 1})]
X = np.array([[1.0, 2.0], [0.0, 1.0]])
Y = np.array([[1.0], [0.0]])
W0 = [[np.array([[0.5], [-0.5]]), np.array([0.0])]]


def test_dense_mse_sgd_full_batch_two_steps_by_hand():
    result = training.trajectory(
        DENSE, W0, X, Y, "mse", "sgd", steps=2, optimizer_config={"learning_rate": 0.1}
    )
    # step 0: pred [-0.5, -0.5], err [-1.5, -0.5], loss 1.25, dL/dpred = err;
    #         dW = x^T err = [-1.5, -3.5], db = -2 -> W [0.65, -0.15], b 0.2
    # step 1: pred [0.55, 0.05], err [-0.45, 0.05], loss 0.1025;
    #         dW = [-0.45, -0.85], db = -0.4 -> W [0.695, -0.065], b 0.24
    assert result["losses"] == pytest.approx([1.25, 0.1025])
    kernel, bias = result["weights"][0]
    np.testing.assert_allclose(kernel.ravel(), [0.695, -0.065])
    np.testing.assert_allclose(bias, [0.24])
    np.testing.assert_allclose(result["weights_per_step"][0][0][0].ravel(), [0.65, -0.15])
    np.testing.assert_array_equal(W0[0][0].ravel(), [0.5, -0.5])  # caller's weights untouched


def test_dense_mse_sgd_minibatches_in_order_by_hand():
    result = training.trajectory(
        DENSE,
        W0,
        X,
        Y,
        "mse",
        "sgd",
        steps=3,
        batch_size=1,
        optimizer_config={"learning_rate": 0.1},
    )
    # step 0 (sample 0): pred -0.5, err -1.5, loss 2.25, grad -3 -> W [0.8, 0.1], b 0.3
    # step 1 (sample 1): pred 0.4, err 0.4, loss 0.16, grad 0.8 -> W [0.8, 0.02], b 0.22
    # step 2 (sample 0 again): pred 0.8 + 0.04 + 0.22 = 1.06, loss 0.0036
    assert result["losses"] == pytest.approx([2.25, 0.16, 0.0036])
    np.testing.assert_allclose(result["weights_per_step"][1][0][0].ravel(), [0.8, 0.02])
    np.testing.assert_allclose(result["weights_per_step"][1][0][1], [0.22])


def test_backprop_gradients_match_whole_model_central_differences():
    rng = np.random.default_rng(5)
    stack = [
        ("LSTM", {"units": 2}),
        ("Dense", {"units": 3, "activation": "tanh"}),
        ("Dense", {"units": 2, "activation": "softmax"}),
    ]
    weights = [
        [rng.normal(size=(2, 8)) * 0.5, rng.normal(size=(2, 8)) * 0.5, rng.normal(size=8)],
        [rng.normal(size=(2, 3)), rng.normal(size=3)],
        [rng.normal(size=(3, 2)), rng.normal(size=2)],
    ]
    x, y = rng.normal(size=(3, 3, 2)), np.eye(2)[[0, 1, 1]]
    _, grads, _, _ = training.gradients(stack, weights, x, y, "categorical_crossentropy")

    def total(*flat):
        ws = [list(flat[:3]), list(flat[3:5]), list(flat[5:])]
        return training.gradients(stack, ws, x, y, "categorical_crossentropy")[0]

    numerical = numeric.central_difference(total, [w for ws in weights for w in ws])
    for got, want in zip([g for gs in grads for g in gs], numerical, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-8)


def test_batch_normalization_moving_statistics_follow_the_batch():
    stack = [("BatchNormalization", {"momentum": 0.5}), ("Dense", {"units": 1})]
    weights = [[np.ones(1), np.zeros(1), np.zeros(1), np.ones(1)], [np.array([[1.0]]), np.zeros(1)]]
    x = np.array([[1.0], [3.0]])  # batch mean 2, biased variance 1
    result = training.trajectory(stack, weights, x, np.zeros((2, 1)), "mse", "sgd", steps=1)
    gamma, beta, moving_mean, moving_var = result["weights"][0]
    np.testing.assert_allclose(moving_mean, [1.0])  # 0.5 * 0 + 0.5 * 2
    np.testing.assert_allclose(moving_var, [1.0])  # 0.5 * 1 + 0.5 * 1
    # normalised batch is [-1, 1] (up to epsilon 1e-3) and the loss mean(xhat^2) = ~1
    assert result["losses"][0] == pytest.approx(1.0 / (1.0 + 1e-3), rel=1e-9)


def test_trajectory_rejects_what_it_cannot_model():
    with pytest.raises(UsageError):
        training.trajectory(
            [("Dense", {"units": 1, "kernel_regularizer": {"l2": 0.1}})],
            W0,
            X,
            Y,
            "mse",
            "sgd",
            steps=1,
        )
    with pytest.raises(UsageError):
        training.trajectory(DENSE, W0, X, Y[:1], "mse", "sgd", steps=1)


def test_central_difference_of_a_fortran_ordered_array():
    # a transposed (Fortran-ordered) input must get the same gradient as a C-ordered one
    from harness.conformance.oracle.numeric import central_difference

    w = np.arange(6.0).reshape(2, 3).T  # F-contiguous view
    assert not w.flags["C_CONTIGUOUS"]
    (grad,) = central_difference(lambda a: float(np.sum(a ** 2)), [w])
    np.testing.assert_allclose(grad, 2 * w, atol=1e-6)
