"""Constants every backend shares, at full precision (Keras 3's ``ops.selu`` uses these)."""

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
