"""Layer cases: at least one per layer, several for the big ones (conv padding × strides ×
dilation, RNN masks and directions, normalization in training and inference)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.conformance.cases import LAYER_CHECKS, Case, InputSpec, Tolerance, freeze

B = 2  # batch size of every case: small shapes keep the whole suite fast on 2 cores

MASK_CHECKS = (*LAYER_CHECKS, "masking")


def case(case_id: str, layer: str, config: dict[str, Any], *shapes: tuple[int, ...],
         checks: tuple[str, ...] = LAYER_CHECKS, kind: str = "normal", **extra: Any) -> Case:
    inputs = tuple(InputSpec((B, *s), kind=kind) for s in shapes)
    return Case(case_id, layer, freeze(config), inputs, checks=checks, **extra)


ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
               "hard_sigmoid", "linear", "gelu", "swish")

_core = [
    case("Dense-linear", "Dense", {"units": 4}, (3,)),
    case("Dense-relu-nobias", "Dense", {"units": 5, "activation": "relu", "use_bias": False}, (6,)),
    case("Dense-tanh-3d", "Dense", {"units": 3, "activation": "tanh"}, (4, 5)),
    *[case(f"Activation-{a}", "Activation", {"activation": a}, (3, 5)) for a in ACTIVATIONS],
    case("Dropout-inference", "Dropout", {"rate": 0.5}, (4, 3)),
    case("Dropout-training", "Dropout", {"rate": 0.5, "seed": 7}, (64, 16), training=True,
         checks=("shape", "forward", "determinism")),
    case("Flatten", "Flatten", {}, (3, 2, 2)),
    case("Reshape", "Reshape", {"target_shape": [4, 3]}, (3, 4)),
    case("Reshape-infer", "Reshape", {"target_shape": [-1, 2]}, (3, 4)),
    case("Permute", "Permute", {"dims": [2, 1]}, (3, 4)),
    case("Permute-3d", "Permute", {"dims": [3, 1, 2]}, (2, 3, 4)),
    case("RepeatVector", "RepeatVector", {"n": 3}, (4,)),
    Case("Embedding", "Embedding", freeze({"input_dim": 10, "output_dim": 4}),
         (InputSpec((B, 5), kind="int", low=0, high=10),),
         checks=("shape", "forward", "backward", "serialization", "determinism",
                 "batch_invariance", "dtype"), differentiable_inputs=()),
    Case("Embedding-mask_zero", "Embedding",
         freeze({"input_dim": 10, "output_dim": 3, "mask_zero": True}),
         (InputSpec((B, 6), kind="int", low=0, high=10),),
         checks=("shape", "forward", "backward", "serialization", "determinism", "masking"),
         differentiable_inputs=()),
    # no backward: the inputs sit exactly on mask_value, where Masking is not differentiable
    case("Masking", "Masking", {"mask_value": 0.0}, (5, 3), mask_lengths=(5, 3),
         checks=tuple(c for c in MASK_CHECKS if c != "backward")),
]

_conv = [
    case("Conv1D-valid", "Conv1D", {"filters": 3, "kernel_size": 3}, (7, 2)),
    case("Conv1D-same-s2", "Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2,
                                      "padding": "same"}, (8, 3)),
    case("Conv1D-dilation2", "Conv1D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2,
                                        "activation": "relu"}, (9, 2)),
    case("Conv2D-valid", "Conv2D", {"filters": 4, "kernel_size": 3}, (6, 6, 2)),
    case("Conv2D-same", "Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"},
         (5, 5, 2)),
    case("Conv2D-same-s2", "Conv2D", {"filters": 3, "kernel_size": 3, "strides": 2,
                                      "padding": "same"}, (7, 6, 2)),
    case("Conv2D-valid-s2x1", "Conv2D", {"filters": 2, "kernel_size": [2, 3],
                                         "strides": [2, 1]}, (6, 6, 3)),
    case("Conv2D-dilation2-same", "Conv2D", {"filters": 2, "kernel_size": 3,
                                             "dilation_rate": 2, "padding": "same"},
         (7, 7, 2)),
    case("Conv2D-nobias-tanh", "Conv2D", {"filters": 2, "kernel_size": 1, "use_bias": False,
                                          "activation": "tanh"}, (4, 4, 3)),
    case("Conv3D-valid", "Conv3D", {"filters": 2, "kernel_size": 2}, (4, 4, 4, 2)),
    case("Conv3D-same-s2", "Conv3D", {"filters": 2, "kernel_size": 3, "strides": 2,
                                      "padding": "same"}, (5, 4, 4, 1)),
    case("Conv2DTranspose-valid", "Conv2DTranspose", {"filters": 2, "kernel_size": 3},
         (4, 4, 3)),
    case("Conv2DTranspose-same-s2", "Conv2DTranspose",
         {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (3, 4, 2)),
    case("Conv2DTranspose-valid-s2-outpad", "Conv2DTranspose",
         {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}, (3, 3, 2)),
    case("SeparableConv2D", "SeparableConv2D", {"filters": 3, "kernel_size": 3,
                                                "depth_multiplier": 2}, (5, 5, 2)),
    case("SeparableConv2D-same-s2", "SeparableConv2D",
         {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (6, 6, 3)),
    case("DepthwiseConv2D", "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2},
         (5, 5, 2)),
    case("DepthwiseConv2D-same-dil", "DepthwiseConv2D",
         {"kernel_size": 2, "padding": "same", "dilation_rate": 2}, (6, 6, 3)),
]

_pool = [
    case("MaxPooling1D", "MaxPooling1D", {"pool_size": 2}, (7, 3)),
    case("MaxPooling1D-same-s1", "MaxPooling1D", {"pool_size": 3, "strides": 1,
                                                  "padding": "same"}, (5, 2)),
    case("MaxPooling2D", "MaxPooling2D", {"pool_size": 2}, (6, 6, 2)),
    case("MaxPooling2D-same-s2", "MaxPooling2D", {"pool_size": 3, "strides": 2,
                                                  "padding": "same"}, (5, 5, 2)),
    case("MaxPooling3D", "MaxPooling3D", {"pool_size": 2}, (4, 4, 4, 1)),
    case("AveragePooling1D", "AveragePooling1D", {"pool_size": 2}, (6, 3)),
    case("AveragePooling2D", "AveragePooling2D", {"pool_size": 2}, (6, 6, 2)),
    case("AveragePooling2D-same", "AveragePooling2D", {"pool_size": 3, "strides": 2,
                                                       "padding": "same"}, (5, 5, 2)),
    case("AveragePooling3D", "AveragePooling3D", {"pool_size": 2, "padding": "same"},
         (3, 4, 4, 1)),
    case("GlobalMaxPooling1D", "GlobalMaxPooling1D", {}, (5, 3)),
    case("GlobalMaxPooling2D", "GlobalMaxPooling2D", {"keepdims": True}, (4, 4, 3)),
    case("GlobalAveragePooling1D", "GlobalAveragePooling1D", {}, (5, 3)),
    case("GlobalAveragePooling1D-mask", "GlobalAveragePooling1D", {}, (5, 3),
         mask_lengths=(5, 2), checks=MASK_CHECKS),
    case("GlobalAveragePooling2D", "GlobalAveragePooling2D", {}, (4, 4, 3)),
    case("ZeroPadding2D", "ZeroPadding2D", {"padding": [[1, 2], [0, 1]]}, (3, 3, 2)),
    case("Cropping2D", "Cropping2D", {"cropping": [[1, 0], [1, 2]]}, (5, 6, 2)),
    case("UpSampling2D", "UpSampling2D", {"size": [2, 3]}, (2, 3, 2)),
]

_norm = [
    case("BatchNormalization-inference", "BatchNormalization", {}, (4, 3), kind="normal"),
    case("BatchNormalization-training", "BatchNormalization", {"momentum": 0.9}, (6, 3),
         training=True, checks=("shape", "forward", "backward", "determinism", "dtype")),
    case("BatchNormalization-conv-noscale", "BatchNormalization",
         {"scale": False, "epsilon": 0.01}, (3, 3, 2)),
    case("LayerNormalization", "LayerNormalization", {}, (4, 5)),
    case("LayerNormalization-nocenter", "LayerNormalization", {"center": False,
                                                               "epsilon": 1e-5}, (3, 6)),
]

_merge = [
    case("Add", "Add", {}, (3, 4), (3, 4)),
    case("Add-three", "Add", {}, (5,), (5,), (5,)),
    case("Subtract", "Subtract", {}, (4,), (4,)),
    case("Multiply", "Multiply", {}, (2, 3), (2, 3)),
    case("Average", "Average", {}, (4,), (4,)),
    case("Maximum", "Maximum", {}, (3, 2), (3, 2)),
    case("Minimum", "Minimum", {}, (3, 2), (3, 2)),
    case("Concatenate", "Concatenate", {"axis": -1}, (3, 2), (3, 4)),
    case("Concatenate-axis1", "Concatenate", {"axis": 1}, (2, 3), (4, 3)),
    case("Dot", "Dot", {"axes": 1}, (4,), (4,)),
    case("Dot-normalize", "Dot", {"axes": 1, "normalize": True}, (5,), (5,)),
    case("Dot-3d", "Dot", {"axes": [2, 2]}, (3, 4), (2, 4)),
]

_RNN_TOL = Tolerance(atol=2e-4, rtol=2e-3, reason="recurrences accumulate float32 rounding "
                     "over time steps", checks=("backward",))


def _rnn(layer: str, tag: str, config: dict[str, Any], mask: bool = False) -> Case:
    checks = MASK_CHECKS if mask else LAYER_CHECKS
    return case(f"{layer}-{tag}", layer, config, (5, 3), checks=checks,
                mask_lengths=(5, 3) if mask else None, tolerance=_RNN_TOL)


_rnn_cases = [
    _rnn("SimpleRNN", "last", {"units": 4}),
    _rnn("SimpleRNN", "seq-backwards", {"units": 3, "return_sequences": True,
                                        "go_backwards": True}),
    _rnn("SimpleRNN", "mask", {"units": 3, "return_sequences": True}, mask=True),
    _rnn("LSTM", "last", {"units": 4}),
    _rnn("LSTM", "seq", {"units": 3, "return_sequences": True}),
    _rnn("LSTM", "backwards", {"units": 3, "go_backwards": True}),
    _rnn("LSTM", "mask", {"units": 3, "return_sequences": True}, mask=True),
    _rnn("LSTM", "mask-last", {"units": 2}, mask=True),
    _rnn("GRU", "last", {"units": 4}),
    _rnn("GRU", "reset_before", {"units": 3, "reset_after": False, "return_sequences": True}),
    _rnn("GRU", "mask", {"units": 3, "return_sequences": True}, mask=True),
    _rnn("GRU", "backwards-relu", {"units": 2, "go_backwards": True, "activation": "relu"}),
]


def _inner(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"class_name": class_name, "config": config}


_wrappers = [
    case("Bidirectional-LSTM-concat", "Bidirectional",
         {"layer": _inner("LSTM", {"units": 3, "return_sequences": True}),
          "merge_mode": "concat"}, (4, 2), tolerance=_RNN_TOL),
    case("Bidirectional-GRU-sum", "Bidirectional",
         {"layer": _inner("GRU", {"units": 2}), "merge_mode": "sum"}, (4, 3),
         tolerance=_RNN_TOL),
    case("Bidirectional-SimpleRNN-ave-mask", "Bidirectional",
         {"layer": _inner("SimpleRNN", {"units": 2, "return_sequences": True}),
          "merge_mode": "ave"}, (5, 2), mask_lengths=(5, 2), checks=MASK_CHECKS,
         tolerance=_RNN_TOL),
    case("Bidirectional-LSTM-mul", "Bidirectional",
         {"layer": _inner("LSTM", {"units": 2}), "merge_mode": "mul"}, (3, 2),
         tolerance=_RNN_TOL),
    case("TimeDistributed-Dense", "TimeDistributed",
         {"layer": _inner("Dense", {"units": 3, "activation": "relu"})}, (4, 5)),
    case("TimeDistributed-Conv2D", "TimeDistributed",
         {"layer": _inner("Conv2D", {"filters": 2, "kernel_size": 2})}, (3, 4, 4, 1)),
]

# one case per layer family also checks that models move between backends
_PORTABLE = {"Dense-relu-nobias", "Conv2D-same-s2", "Conv2DTranspose-same-s2", "SeparableConv2D",
             "DepthwiseConv2D", "Conv1D-dilation2", "MaxPooling2D-same-s2", "Embedding",
             "BatchNormalization-inference", "LayerNormalization", "LSTM-seq", "GRU-last",
             "SimpleRNN-last", "Bidirectional-LSTM-concat", "TimeDistributed-Dense",
             "Concatenate", "Add"}


def _with_portability(case: Case) -> Case:
    if case.id not in _PORTABLE:
        return case
    return replace(case, checks=(*case.checks, "portability"))


LAYER_CASES: list[Case] = [_with_portability(c) for c in
                           (*_core, *_conv, *_pool, *_norm, *_merge, *_rnn_cases, *_wrappers)]
assert _PORTABLE <= {c.id for c in LAYER_CASES}, "a portable case id is misspelt"
