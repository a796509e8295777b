"""Backend-independent helpers every backend of the reference library reuses.

``conv_utils`` has the size and padding arithmetic of convolutions and pooling (TensorFlow's
SAME, Keras's transposed-convolution output size), ``dtypes`` the dtype names of the op
interface, and ``patches`` the NumPy index arrays of an im2col gather.
"""
