"""Losses, metrics, optimizers and the training loop against hand-computed NumPy values."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers, losses, metrics, models, optimizers, random
from harness.reference.variables import Variable

F32 = np.float32


def value(x):
    return np.asarray(K.to_numpy(x), dtype=np.float64)


def loss_and_grad(fn, y_true, y_pred, **config):
    """mean(fn(y_true, y_pred)) and its gradient with respect to y_pred."""
    yt = K.convert_to_tensor(np.asarray(y_true, F32))

    def objective(values):
        return K.mean(fn(yt, values[0], **config))

    total, grads = K.value_and_grad(objective, [K.convert_to_tensor(np.asarray(y_pred, F32))])
    return float(value(total)), value(grads[0])


# --- losses ----------------------------------------------------------------------------------
def test_regression_losses_per_sample():
    y_true = [[0.0, 1.0], [0.0, 0.0]]
    y_pred = [[0.6, 0.4], [0.4, 0.6]]
    np.testing.assert_allclose(value(losses.mse(F32(y_true), F32(y_pred))),
                               [(0.36 + 0.36) / 2, (0.16 + 0.36) / 2], rtol=1e-6)
    np.testing.assert_allclose(value(losses.mean_absolute_error(F32(y_true), F32(y_pred))),
                               [0.6, 0.5], rtol=1e-6)
    # huber: errors 0.5 and 2 -> 0.125 (quadratic) and 2 - 0.5 (linear), delta 1
    np.testing.assert_allclose(value(losses.huber(F32([[0, 0]]), F32([[0.5, 2.0]]))),
                               [(0.125 + 1.5) / 2], rtol=1e-6)
    # delta 2: error 3 is linear (2*3 - 2), error 1 quadratic (0.5)
    np.testing.assert_allclose(value(losses.huber(F32([[0, 0]]), F32([[1.0, -3.0]]),
                                                  delta=2.0)), [(0.5 + 4.0) / 2], rtol=1e-6)


def test_hinge_converts_binary_labels_and_kld():
    # 0/1 labels become -1/1: max(1 + 0.3, 0) and max(1 - 0.2, 0)
    np.testing.assert_allclose(value(losses.hinge(F32([[0, 1]]), F32([[0.3, 0.2]]))),
                               [(1.3 + 0.8) / 2], rtol=1e-6)
    np.testing.assert_allclose(value(losses.hinge(F32([[-1, 1]]), F32([[0.3, 2.0]]))),
                               [(1.3 + 0.0) / 2], rtol=1e-6)
    expected = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)
    np.testing.assert_allclose(value(losses.kld(F32([[0.2, 0.8]]), F32([[0.5, 0.5]]))),
                               [expected], rtol=1e-5)


def test_binary_crossentropy_probabilities_smoothing_and_clipping():
    y_true, y_pred = F32([[0, 1], [0, 0]]), F32([[0.6, 0.4], [0.4, 0.6]])
    want = [-(math.log(0.4) + math.log(0.4)) / 2, -(math.log(0.6) + math.log(0.4)) / 2]
    np.testing.assert_allclose(value(losses.binary_crossentropy(y_true, y_pred)), want,
                               rtol=1e-5)
    # label_smoothing 0.2 moves the targets to 0.1 and 0.9
    got = value(losses.binary_crossentropy(F32([[1.0]]), F32([[0.7]]), label_smoothing=0.2))
    np.testing.assert_allclose(got, [-(0.9 * math.log(0.7) + 0.1 * math.log(0.3))], rtol=1e-5)
    # a probability of 0 for the true class is clipped to 1e-7
    got = value(losses.binary_crossentropy(F32([[1.0]]), F32([[0.0]])))
    np.testing.assert_allclose(got, [-math.log(F32(1e-7))], rtol=1e-4)


def test_binary_crossentropy_from_logits_is_finite_at_1e4():
    logits = [[1e4], [1e4], [-1e4], [0.0]]
    labels = [[1.0], [0.0], [1.0], [1.0]]
    per_sample = value(losses.binary_crossentropy(F32(labels), F32(logits), from_logits=True))
    np.testing.assert_allclose(per_sample, [0.0, 1e4, 1e4, math.log(2.0)], rtol=1e-6, atol=1e-6)
    _, grad = loss_and_grad(losses.binary_crossentropy, labels, logits, from_logits=True)
    # d/dx (softplus(x) - x y) = sigmoid(x) - y, divided by the 4 samples of the mean
    np.testing.assert_allclose(grad, np.array([[0.0], [1.0], [-1.0], [-0.5]]) / 4, atol=1e-7)


def test_categorical_crossentropy_forms():
    y_true = F32([[0, 1, 0], [0, 0, 1]])
    y_pred = F32([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(value(losses.categorical_crossentropy(y_true, y_pred)),
                               [-math.log(0.95), -math.log(0.1)], rtol=1e-5)
    # unnormalised probabilities are divided by their sum first
    np.testing.assert_allclose(value(losses.categorical_crossentropy(F32([[1, 0]]),
                                                                     F32([[2.0, 2.0]]))),
                               [math.log(2.0)], rtol=1e-6)
    smoothed = value(losses.categorical_crossentropy(y_true[:1], y_pred[:1],
                                                     label_smoothing=0.3))
    targets = np.array([0.1, 0.8, 0.1])  # 0.3 / 3 + 0.7 * one-hot
    probs = np.clip([0.05, 0.95, 0.0], 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(smoothed, [-(targets * np.log(probs)).sum()], rtol=1e-4)
    logits = np.array([[1.0, 2.0, 3.0]])
    want = -(logits[0, 0] - np.log(np.exp(logits).sum()))
    np.testing.assert_allclose(value(losses.categorical_crossentropy(
        F32([[1, 0, 0]]), F32(logits), from_logits=True)), [want], rtol=1e-6)


def test_categorical_crossentropies_from_huge_logits_are_finite():
    logits = [[1e4, 0.0, -1e4]]
    total, grad = loss_and_grad(losses.categorical_crossentropy, [[0, 0, 1]], logits,
                                from_logits=True)
    assert total == pytest.approx(2e4)
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]], atol=1e-6)  # softmax - y
    total, grad = loss_and_grad(losses.sparse_categorical_crossentropy, [2.0], logits,
                                from_logits=True)
    assert total == pytest.approx(2e4)
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]], atol=1e-6)


def test_sparse_categorical_crossentropy_accepts_flat_and_column_labels():
    y_pred = F32([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    want = [-math.log(0.95), -math.log(0.1)]
    np.testing.assert_allclose(value(losses.sparse_categorical_crossentropy(
        np.array([1, 2]), y_pred)), want, rtol=1e-5)
    np.testing.assert_allclose(value(losses.sparse_categorical_crossentropy(
        F32([[1.0], [2.0]]), y_pred)), want, rtol=1e-5)
    with pytest.raises(ValueError):
        losses.sparse_categorical_crossentropy(np.array([1, 2, 0]), y_pred)


def test_loss_classes_reduce_over_batch_and_get_resolves_names():
    y_true, y_pred = F32([[0, 1], [0, 0]]), F32([[1, 1], [1, 0]])
    assert float(value(losses.MeanSquaredError()(y_true, y_pred))) == pytest.approx(0.5)
    assert float(value(losses.MeanSquaredError(reduction="sum")(y_true, y_pred))) == \
        pytest.approx(1.0)
    weighted = losses.MeanAbsoluteError()(y_true, y_pred, sample_weight=F32([1.0, 0.0]))
    assert float(value(weighted)) == pytest.approx(0.25)  # (0.5 * 1 + 0.5 * 0) / 2 samples
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.BinaryCrossentropy.from_config(bce.get_config()).get_config() == \
        bce.get_config()
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("kld") is losses.kl_divergence
    assert isinstance(losses.get("Huber"), losses.Huber)
    assert losses.get({"class_name": "Huber", "config": {"delta": 3.0}}).fn_kwargs == \
        {"delta": 3.0}
    with pytest.raises(ValueError):
        losses.get("no_such_loss")


# --- metrics ---------------------------------------------------------------------------------
def test_accuracy_metrics():
    np.testing.assert_array_equal(value(metrics.binary_accuracy(F32([[1], [0], [1]]),
                                                                F32([[0.7], [0.6], [0.2]]))),
                                  [[1], [0], [0]])
    probs = F32([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(value(metrics.categorical_accuracy(
        F32([[0, 1], [0, 1], [0, 1]]), probs)), [1, 0, 1])
    np.testing.assert_array_equal(value(metrics.sparse_categorical_accuracy(
        F32([[1], [0], [0]]), probs)), [1, 1, 0])
    np.testing.assert_array_equal(value(metrics.accuracy(F32([1, 2, 3]), F32([1, 0, 3]))),
                                  [1, 0, 1])
    assert metrics.resolve_accuracy("accuracy", (3, 1), (None, 1)) is metrics.binary_accuracy
    assert metrics.resolve_accuracy("acc", (3,), (None, 4)) is \
        metrics.sparse_categorical_accuracy
    assert metrics.resolve_accuracy("accuracy", (3, 4), (None, 4)) is \
        metrics.categorical_accuracy
    assert metrics.get("mae") is losses.mean_absolute_error


# --- optimizers ------------------------------------------------------------------------------
W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, 0.1, -0.3])
G2 = np.array([-0.2, 0.4, 0.003])


def run_steps(optimizer, grads, start=W0, dtype="float64"):
    var = Variable(start, name="w", dtype=dtype)
    for g in grads:
        optimizer.apply_gradients([(np.asarray(g), var)])
    return var.numpy()


def test_sgd_plain_momentum_and_nesterov():
    np.testing.assert_allclose(run_steps(optimizers.SGD(0.1), [G1]), W0 - 0.1 * G1)
    m1 = -0.1 * G1
    m2 = 0.9 * m1 - 0.1 * G2
    np.testing.assert_allclose(run_steps(optimizers.SGD(0.1, momentum=0.9), [G1, G2]),
                               W0 + m1 + m2)
    nesterov = W0 + (0.9 * m1 - 0.1 * G1) + (0.9 * m2 - 0.1 * G2)
    np.testing.assert_allclose(run_steps(optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                         [G1, G2]), nesterov)


def test_adam_two_steps_with_bias_correction():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate([G1, G2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run_steps(optimizers.Adam(lr), [G1, G2]), w, rtol=1e-12)
    # the first Adam step moves every weight by about lr against its gradient's sign
    np.testing.assert_allclose(run_steps(optimizers.Adam(lr), [G1]), W0 - lr * np.sign(G1),
                               atol=1e-6)


def test_adam_amsgrad_keeps_the_largest_second_moment():
    g_small = G1 * 0.01
    opt = optimizers.Adam(0.01, amsgrad=True)
    got = run_steps(opt, [G1, g_small])
    v1 = 0.001 * G1 ** 2
    m2 = 0.9 * (0.1 * G1) + 0.1 * g_small
    w1 = W0 - 0.01 * math.sqrt(0.001) / 0.1 * (0.1 * G1) / (np.sqrt(v1) + 1e-7)
    w2 = w1 - 0.01 * math.sqrt(1 - 0.999 ** 2) / (1 - 0.81) * m2 / (np.sqrt(v1) + 1e-7)
    np.testing.assert_allclose(got, w2, rtol=1e-10)
    assert [v.name for v in opt.variables] == ["adam/iteration", "w_momentum", "w_velocity",
                                               "w_velocity_hat"]


def test_rmsprop_plain_and_centered_with_momentum():
    v = 0.1 * G1 ** 2
    np.testing.assert_allclose(run_steps(optimizers.RMSprop(0.01), [G1]),
                               W0 - 0.01 * G1 / np.sqrt(v + 1e-7))
    opt = optimizers.RMSprop(0.01, momentum=0.5, centered=True)
    v1, a1 = 0.1 * G1 ** 2, 0.1 * G1
    mom1 = 0.01 * G1 / np.sqrt(v1 - a1 ** 2 + 1e-7)
    v2, a2 = 0.9 * v1 + 0.1 * G2 ** 2, 0.9 * a1 + 0.1 * G2
    mom2 = 0.5 * mom1 + 0.01 * G2 / np.sqrt(v2 - a2 ** 2 + 1e-7)
    np.testing.assert_allclose(run_steps(opt, [G1, G2]), W0 - mom1 - mom2, rtol=1e-10)


def test_adagrad_accumulates_from_initial_value():
    acc1 = 0.1 + G1 ** 2
    acc2 = acc1 + G2 ** 2
    want = W0 - 0.1 * G1 / np.sqrt(acc1 + 1e-7) - 0.1 * G2 / np.sqrt(acc2 + 1e-7)
    np.testing.assert_allclose(run_steps(optimizers.Adagrad(0.1), [G1, G2]), want)


def test_clipping_and_float32_state():
    np.testing.assert_allclose(run_steps(optimizers.SGD(1.0, clipvalue=0.2), [G1]),
                               W0 - np.clip(G1, -0.2, 0.2))
    norm = np.linalg.norm(G1)
    np.testing.assert_allclose(run_steps(optimizers.SGD(1.0, clipnorm=0.1), [G1]),
                               W0 - G1 * 0.1 / norm)
    opt = optimizers.Adam(0.01)
    got = run_steps(opt, [G1], dtype="float32")
    assert got.dtype == np.float32
    assert [K.dtype(v.value) for v in opt.variables] == ["int64", "float32", "float32"]
    assert opt.step == 1


def test_optimizer_configs_round_trip_and_get():
    for opt in (optimizers.SGD(0.2, momentum=0.5, nesterov=True), optimizers.Adam(amsgrad=True),
                optimizers.RMSprop(centered=True), optimizers.Adagrad(0.3)):
        config = opt.get_config()
        assert type(opt).from_config(config).get_config() == config
        assert optimizers.get(optimizers.serialize(opt)).get_config() == config
    assert optimizers.Adam().get_config()["epsilon"] == 1e-7
    assert optimizers.get("rmsprop").learning_rate == 0.001
    assert optimizers.get("SGD").learning_rate == 0.01
    with pytest.raises(ValueError):
        optimizers.get("nadam")
    with pytest.raises(ValueError):
        optimizers.SGD(use_ema=True)


# --- the training loop -----------------------------------------------------------------------
def linear_model(w, b):
    model = models.Sequential([layers.Input(shape=(w.shape[0],)), layers.Dense(w.shape[1])])
    model.set_weights([w, b])
    return model


def test_train_on_batch_returns_loss_before_the_update_and_steps_like_sgd():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    w, b = rng.normal(size=(3, 2)), rng.normal(size=(2,))
    model = linear_model(w, b)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    residual = x @ w + b - y
    loss = model.train_on_batch(x.astype(F32), y.astype(F32))
    assert isinstance(loss, float)
    assert loss == pytest.approx(np.mean(residual ** 2), rel=1e-5)
    scale = 2.0 / residual.size  # d mean(r^2) / d r
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, w - 0.1 * scale * x.T @ residual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.1 * scale * residual.sum(0), rtol=1e-5, atol=1e-6)


def test_batch_normalization_statistics_are_updated_through_the_step():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], F32)
    model = models.Sequential([layers.Input(shape=(2,)), layers.BatchNormalization()])
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, np.zeros_like(x))
    gamma, beta, moving_mean, moving_var = model.get_weights()
    np.testing.assert_allclose(moving_mean, 0.01 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(moving_var, 0.99 + 0.01 * x.var(0), rtol=1e-5)
    # normalised outputs are +-1.22 and 0: the loss pulls gamma down, beta has no gradient
    assert np.all(gamma < 1.0)
    np.testing.assert_allclose(beta, 0.0, atol=1e-6)
    assert len(model.trainable_weights) == 2


def separable(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(F32)
    return x, (x[:, :1] + x[:, 1:] > 0).astype(F32)


def test_fit_learns_a_separable_problem():
    random.set_random_seed(1337)  # the initial weights must not depend on earlier tests' draws
    x, y = separable()
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=16, seed=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.batch_losses) == 20 * 4
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.95
    np.testing.assert_allclose(model.predict(x, batch_size=7), value(model(x)), rtol=1e-6)


def test_fit_validates_on_the_last_fraction_and_weights_epoch_means():
    x, y = separable(10, seed=1)
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, epochs=1, batch_size=3, validation_split=0.3, shuffle=False)
    # 7 training rows in batches of 3, 3, 1; the epoch loss weighs each by its size
    losses_ = history.batch_losses
    assert len(losses_) == 3
    assert history.history["loss"][0] == pytest.approx(
        (3 * losses_[0] + 3 * losses_[1] + losses_[2]) / 7, rel=1e-6)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[7:], y[7:]),
                                                           rel=1e-6)


def test_shuffling_follows_the_seeded_generator():
    x, y = separable(9, seed=2)
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    start = model.get_weights()
    first_rows = np.random.default_rng(5).permutation(9)[:4]
    expected_first = model.test_on_batch(x[first_rows], y[first_rows])
    run1 = model.fit(x, y, epochs=2, batch_size=4, seed=5).batch_losses
    model.set_weights(start)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    run2 = model.fit(x, y, epochs=2, batch_size=4, seed=5).batch_losses
    assert run1[0] == pytest.approx(expected_first, rel=1e-6)
    assert run1 == run2


def two_output_model():
    inp = layers.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh", name="hidden")(inp)
    return models.Model(inp, [layers.Dense(2, name="reg")(hidden),
                              layers.Dense(1, activation="sigmoid", name="prob")(hidden)])


def test_multi_output_losses_are_weighted_and_named():
    model = two_output_model()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3)).astype(F32)
    y_reg, y_prob = rng.normal(size=(5, 2)).astype(F32), np.ones((5, 1), F32)
    model.compile(optimizer="sgd", loss=["mse", "mae"], loss_weights=[2.0, 0.5])
    logs = model.test_on_batch(x, [y_reg, y_prob], return_dict=True)
    reg, prob = model.predict(x)
    mse, mae = np.mean((reg - y_reg) ** 2), np.mean(np.abs(prob - y_prob))
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["prob_loss"] == pytest.approx(mae, rel=1e-5)
    assert logs["loss"] == pytest.approx(2.0 * mse + 0.5 * mae, rel=1e-5)
    model.compile(optimizer="sgd", loss={"prob": "binary_crossentropy"},
                  metrics={"prob": ["accuracy"]})
    logs = model.test_on_batch(x, {"reg": y_reg, "prob": y_prob}, return_dict=True)
    assert set(logs) == {"loss", "prob_loss", "prob_accuracy"}
    assert logs["prob_accuracy"] == pytest.approx(np.mean(prob > 0.5))


def test_training_errors_are_value_errors():
    model = two_output_model()
    x = np.zeros((2, 3), F32)
    with pytest.raises(ValueError, match="compiled"):
        model.fit(x, [np.zeros((2, 2)), np.zeros((2, 1))])
    with pytest.raises(ValueError):
        model.compile(optimizer="sgd", loss=["mse"])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, [np.zeros((3, 2)), np.zeros((3, 1))])
    with pytest.raises(ValueError, match="outputs"):
        model.train_on_batch(x, np.zeros((2, 2)))


def test_compiled_steps_follow_the_eager_ones():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)).astype(F32), rng.normal(size=(6, 2)).astype(F32)

    def make(jit_compile):
        model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="tanh"),
                                   layers.BatchNormalization(), layers.Dense(2)])
        model.set_weights(start)
        model.compile(optimizer=optimizers.Adam(0.05), loss="mse", metrics=["mae"],
                      jit_compile=jit_compile)
        return model

    start = models.Sequential([layers.Input(shape=(3,)), layers.Dense(4),
                               layers.BatchNormalization(), layers.Dense(2)]).get_weights()
    eager, compiled = make(False), make(True)
    graph_backend = getattr(K.active(), "EXECUTION", "eager") == "graph"
    assert compiled._steps().compiled and eager._steps().compiled == graph_backend
    for _ in range(3):
        np.testing.assert_allclose(compiled.train_on_batch(x, y), eager.train_on_batch(x, y),
                                   rtol=1e-5)
    for got, want in zip(compiled.get_weights(), eager.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert compiled.optimizer.step == 3
    np.testing.assert_allclose(compiled.predict(x), eager.predict(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(compiled.evaluate(x, y), eager.evaluate(x, y), rtol=1e-4)


# --- optimizer values inside compiled steps --------------------------------------------------
# Graph backends compile the training step once: a clipping scale or a bias correction read
# back to Python while tracing would freeze at the first batch's value. Each batch below is
# scaled differently, so every step's gradient norm differs from the first one's.
BATCH_SCALES = (0.1, 4.0, 1.5)
LIMIT = 0.5


@pytest.fixture(params=["numpy", "pytensor", "theano"])
def step_backend(request):
    """The backend the model is built and trained on (graph ones compile the step)."""
    # find_spec, not importorskip: Theano imports only after its backend sets THEANO_FLAGS
    if request.param != "numpy" and importlib.util.find_spec(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    before = K.name()
    K.set_backend(request.param)
    yield request.param
    K.set_backend(before)


def dense_batches():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, 3))
    y = rng.normal(size=(4, 2))
    w0, b0 = rng.normal(size=(3, 2)) * 0.5, np.array([0.1, -0.2])
    return [(x * s, y) for s in BATCH_SCALES], w0, b0


def numpy_gradients(x, y, w, b):
    """Gradients of mean((x w + b - y)^2) over every element, in float64."""
    error = 2.0 * (x @ w + b - y) / y.size
    return [x.T @ error, error.sum(axis=0)]


def clip(grads, mode):
    """Keras's clipping of one step's gradients, from that step's own norms."""
    if mode == "clipvalue":
        return [np.clip(g, -LIMIT, LIMIT) for g in grads]
    if mode == "clipnorm":
        return [g * LIMIT / max(np.linalg.norm(g), LIMIT) for g in grads]
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    return [g * LIMIT / max(norm, LIMIT) for g in grads]


def train_dense(optimizer, batches, w0, b0):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.set_weights([w0.astype(F32), b0.astype(F32)])
    model.compile(optimizer=optimizer, loss="mse")
    for x, y in batches:
        model.train_on_batch(x.astype(F32), y.astype(F32))
    return model


@pytest.mark.parametrize("mode", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_uses_each_steps_own_gradient(step_backend, mode):
    batches, w0, b0 = dense_batches()
    weights = [w0, b0]
    norms = []
    for x, y in batches:
        grads = numpy_gradients(x, y, *weights)
        norms.append(math.sqrt(sum(float(np.sum(g * g)) for g in grads)))
        weights = [w - 0.1 * g for w, g in zip(weights, clip(grads, mode), strict=True)]
    # the data exercise both sides of the limit: unclipped first, clipped later
    assert norms[0] < LIMIT < min(norms[1:]) and len(set(norms)) == 3
    model = train_dense(optimizers.SGD(0.1, **{mode: LIMIT}), batches, w0, b0)
    assert model._steps().compiled == (step_backend != "numpy")
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert model.optimizer.step == 3


def test_adam_bias_correction_follows_the_step_count_when_compiled(step_backend):
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-7
    batches, w0, b0 = dense_batches()
    weights, m, v = [w0, b0], [np.zeros_like(w0), np.zeros_like(b0)], \
        [np.zeros_like(w0), np.zeros_like(b0)]
    for t, (x, y) in enumerate(batches, start=1):
        grads = clip(numpy_gradients(x, y, *weights), "global_clipnorm")
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = [mi + (g - mi) * (1 - b1) for mi, g in zip(m, grads, strict=True)]
        v = [vi + (g * g - vi) * (1 - b2) for vi, g in zip(v, grads, strict=True)]
        weights = [w - alpha * mi / (np.sqrt(vi) + eps)
                   for w, mi, vi in zip(weights, m, v, strict=True)]
    model = train_dense(optimizers.Adam(lr, global_clipnorm=LIMIT), batches, w0, b0)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    # the slots carry the float32 state of the third step
    np.testing.assert_allclose(model.optimizer.momentums[0].numpy(), m[0], rtol=2e-5,
                               atol=1e-7)
    assert model.optimizer.step == 3
