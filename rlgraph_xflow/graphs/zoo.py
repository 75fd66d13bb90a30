"""The model zoo: the evaluation graphs, built in code, nothing downloaded.

Holds:
  names: the models `build` knows.
  build: one zoo model as an opset-17 ONNX ModelProto with seeded random weights.
  from_keras: a keras.applications model (weights=None) exported through
    tf2onnx (see keras_export.py; TensorFlow is only imported when it is called).

The models (architectures as in torchvision / Hugging Face, float32):
  resnet18, resnet50 (zoo_resnet.py), inception_v3 (zoo_inception.py),
  squeezenet1_1 (zoo_squeezenet.py), bert_base (zoo_bert.py).

Example:
    >>> from rlgraph_xflow.graphs import zoo
    >>> model = zoo.build("resnet50", batch_size=2)
    >>> bert = zoo.build("bert_base", sequence_length=128, attention_mask=True)
"""
from __future__ import annotations

import difflib
import inspect
from typing import Callable

import onnx

from rlgraph_xflow.core.validation import is_int
from rlgraph_xflow.graphs.keras_export import from_keras
from rlgraph_xflow.graphs.zoo_bert import bert_base
from rlgraph_xflow.graphs.zoo_inception import inception_v3
from rlgraph_xflow.graphs.zoo_resnet import resnet18, resnet50
from rlgraph_xflow.graphs.zoo_squeezenet import squeezenet1_1

__all__ = ["build", "from_keras", "names"]

_BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "inception_v3": inception_v3,
    "squeezenet1_1": squeezenet1_1,
    "bert_base": bert_base,
}


def names() -> list[str]:
    """Returns the names `build` accepts, in a fixed order."""
    return list(_BUILDERS)


def _model_options(builder: Callable[..., onnx.ModelProto]) -> dict[str, object]:
    """The keyword options a model builder takes beyond batch_size and seed, with defaults."""
    parameters = inspect.signature(builder).parameters
    return {name: parameter.default for name, parameter in parameters.items() if name not in ("batch_size", "seed")}


def build(name: str, batch_size: int = 1, seed: int = 0, **options) -> onnx.ModelProto:
    """Builds a zoo model with random weights drawn from a seeded generator.

    Args:
        name: one of `names()`.
        batch_size: the static batch dimension of every input.
        seed: seed of the numpy Generator; the same seed gives identical bytes.
        **options: model-specific options: `image_size` and `num_classes` for
            the vision models; `sequence_length` (default 64),
            `attention_mask` (default False) and `layers` (default 12) for
            bert_base.

    Returns:
        The model (opset 17, float32 weights).

    Raises:
        ValueError: unknown model name (with the valid names and a close
            match), unknown option, or an option value out of range.
        TypeError: batch_size or seed not an integer.
    """
    if name not in _BUILDERS:
        close = difflib.get_close_matches(str(name), names(), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"zoo.build: unknown model '{name}'; valid names are {names()}.{hint}")
    for label, value in (("batch_size", batch_size), ("seed", seed)):
        if not is_int(value):
            raise TypeError(f"zoo.build('{name}'): {label} must be an int, found {type(value).__name__} {value!r}")
    if batch_size < 1:
        raise ValueError(f"zoo.build('{name}'): batch_size must be at least 1, found {batch_size}")
    builder = _BUILDERS[name]
    valid_options = _model_options(builder)
    for option, value in options.items():
        if option not in valid_options:
            raise ValueError(
                f"zoo.build('{name}'): unknown option '{option}'; this model takes {sorted(valid_options)}"
            )
        default = valid_options[option]
        if type(value) is not type(default):
            raise TypeError(
                f"zoo.build('{name}'): option '{option}' must be {type(default).__name__} "
                f"(default {default!r}), found {type(value).__name__} {value!r}"
            )
    return builder(batch_size=batch_size, seed=seed, **options)
