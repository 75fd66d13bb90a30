"""keras.applications models (random weights) exported to ONNX through tf2onnx.

Holds:
  keras_application: builds a keras.applications model with weights=None from a seed.
  from_keras: the same model exported to an opset-17 ONNX ModelProto.

TensorFlow, Keras and tf2onnx are imported inside these functions only, so
importing the zoo stays cheap and TensorFlow-free. Keras 3 writes ~/.keras on
import unless KERAS_HOME is set, so KERAS_HOME is pointed at a fresh temporary
folder when the caller has not set it. Keras 3 models are not accepted by
tf2onnx.convert.from_keras, so the model is wrapped in a tf.function with a
static input signature and converted with tf2onnx.convert.from_function.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from types import ModuleType

import onnx

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.graphs.zoo_builder import ONNX_OPSET

_INPUT_NAME = "input"


def _import_keras() -> ModuleType:
    if "KERAS_HOME" not in os.environ:
        os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="rlgraph_xflow_keras_home_")
    # tf2onnx may bring in onnxruntime, which writes to $HOME unless told not to.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import keras

    return keras


def _application_names(keras: ModuleType) -> list[str]:
    return sorted(name for name in dir(keras.applications) if name[:1].isupper() and callable(getattr(keras.applications, name)))


def _input_shape(name: str, input_size: int | tuple[int, int] | None) -> tuple[int, int, int] | None:
    if input_size is None:
        return None
    if is_int(input_size):
        height = width = input_size
    elif (
        isinstance(input_size, (tuple, list))
        and len(input_size) == 2
        and all(is_int(size) for size in input_size)
    ):
        height, width = input_size
    else:
        raise ValueError(
            f"from_keras('{name}'): input_size must be an int or a (height, width) pair of ints, found {input_size!r}"
        )
    if height < 1 or width < 1:
        raise ValueError(f"from_keras('{name}'): input_size must be positive, found {input_size!r}")
    return height, width, 3


def keras_application(name: str, input_size: int | tuple[int, int] | None = None, seed: int = 0, **application_options):
    """Builds keras.applications.<name>(weights=None, ...) with reproducible random weights.

    Args:
        name: a keras.applications constructor, e.g. "ResNet50", "InceptionV3",
            "MobileNetV2".
        input_size: image height and width (an int for square); None keeps the
            application's own default (224, or 299 for the Inception family).
        seed: seeds Python, numpy and the backend before the weights are drawn.
        **application_options: passed to the constructor, e.g. alpha=0.35 or
            classifier_activation=None (logits instead of probabilities).

    Returns:
        keras.Model with channels-last float32 input [None, H, W, 3].

    Raises:
        ValueError: unknown application (with the valid names and a close
            match), a malformed input_size, or options the application rejects.
    """
    keras = _import_keras()
    valid_names = _application_names(keras)
    if name not in valid_names:
        close = difflib.get_close_matches(str(name), valid_names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"from_keras: unknown keras application '{name}'; valid names are {valid_names}.{hint}")
    input_shape = _input_shape(name, input_size)
    if input_shape is not None:
        application_options["input_shape"] = input_shape
    keras.utils.set_random_seed(seed)
    try:
        return getattr(keras.applications, name)(weights=None, **application_options)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"from_keras: keras.applications.{name}(weights=None, **{application_options}) failed: {error}"
        ) from error


def from_keras(
    name: str, batch_size: int = 1, input_size: int | tuple[int, int] | None = None, seed: int = 0, **application_options
) -> onnx.ModelProto:
    """Exports a keras.applications model with random weights to ONNX (opset 17).

    Args:
        name: a keras.applications constructor, e.g. "ResNet50", "MobileNetV2".
        batch_size: the static batch dimension of the exported input.
        input_size: image height and width (an int for square); None keeps the
            application's default.
        seed: seed for the weights; the same seed gives the same weights.
        **application_options: passed to the constructor (alpha=..., classifier_activation=...).

    Returns:
        The ModelProto: input "input" [batch, H, W, 3] float32 (channels last, as
        Keras has it), one output.

    Raises:
        ValueError: unknown application, bad batch_size or input_size, or
            options the application rejects.

    Example:
        >>> model = from_keras("MobileNetV2", input_size=96, alpha=0.35)
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"from_keras('{name}'): batch_size must be an int >= 1, found {batch_size!r}")
    model = keras_application(name, input_size=input_size, seed=seed, **application_options)
    import tensorflow as tf
    import tf2onnx

    shape = [batch_size, *model.input_shape[1:]]
    if any(dimension is None for dimension in shape):
        raise ValueError(f"from_keras('{name}'): the model input shape {model.input_shape} is not static; pass input_size")
    signature = [tf.TensorSpec(shape, tf.float32, name=_INPUT_NAME)]
    function = tf.function(lambda images: model(images, training=False), input_signature=signature)
    model_proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=ONNX_OPSET)
    return model_proto
