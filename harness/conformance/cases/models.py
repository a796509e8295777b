"""Model cases: tiny Sequential models trained for a few steps with each optimizer, compared
with the oracle's float64 trajectory (losses before each step and the final weights)."""

from __future__ import annotations

from harness.conformance.cases import ModelCase, freeze

_MLP = (("Dense", freeze({"units": 5, "activation": "tanh"})),
        ("Dense", freeze({"units": 3})))
_CLASSIFIER = (("Dense", freeze({"units": 4, "activation": "relu"})),
               ("Dense", freeze({"units": 3, "activation": "softmax"})))


def _opt(name: str, **config: object) -> tuple[str, dict[str, object]]:
    return name, config


_OPTIMIZERS = [
    _opt("SGD", learning_rate=0.1),
    _opt("SGD", learning_rate=0.05, momentum=0.9),
    _opt("SGD", learning_rate=0.05, momentum=0.9, nesterov=True),
    _opt("Adam", learning_rate=0.01),
    _opt("Adam", learning_rate=0.01, amsgrad=True),
    _opt("RMSprop", learning_rate=0.01),
    _opt("RMSprop", learning_rate=0.01, momentum=0.5, centered=True),
    _opt("Adagrad", learning_rate=0.1),
]


def _tag(name: str, config: dict[str, object]) -> str:
    flags = [k for k in ("momentum", "nesterov", "amsgrad", "centered") if config.get(k)]
    return "-".join([name, *flags])


MODEL_CASES: list[ModelCase] = [
    *[ModelCase(f"train-mse-{_tag(n, c)}", _MLP, (8, 4), "regression", 3,
                "mean_squared_error", n, freeze(c), steps=4)
      for n, c in _OPTIMIZERS],
    ModelCase("train-cce-Adam-minibatch", _CLASSIFIER, (8, 4), "categorical", 3,
              "categorical_crossentropy", "Adam", freeze({"learning_rate": 0.01}),
              steps=4, batch_size=4),
    ModelCase("train-scce-logits-SGD", (("Dense", freeze({"units": 3})),), (6, 4), "sparse", 3,
              "sparse_categorical_crossentropy", "SGD", freeze({"learning_rate": 0.1}),
              loss_config=freeze({"from_logits": True}), steps=3),
    ModelCase("train-bce-RMSprop", (("Dense", freeze({"units": 1, "activation": "sigmoid"})),),
              (8, 3), "binary", 1, "binary_crossentropy", "RMSprop",
              freeze({"learning_rate": 0.01}), steps=3),
    ModelCase("train-huber-Adagrad", _MLP, (8, 4), "regression", 3, "huber", "Adagrad",
              freeze({"learning_rate": 0.1}), steps=3),
]
