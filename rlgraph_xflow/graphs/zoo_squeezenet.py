"""SqueezeNet 1.1 as an ONNX graph, topology identical to torchvision's.

Holds:
  squeezenet1_1: Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with
    50x fewer parameters", version 1.1 (3x3/64 stem, pooling after Fire 2 and 4);
    224x224 input, 26 convolutions (stem, 8 Fire modules of 3, classifier).

A Fire module squeezes with a 1x1 convolution and expands with parallel 1x1 and
3x3 convolutions whose outputs are concatenated; every convolution has a bias
and a ReLU, and there is no BatchNormalization.
"""
from __future__ import annotations

import onnx

from rlgraph_xflow.graphs.zoo_builder import GraphBuilder


def _fire(builder: GraphBuilder, data: str, squeeze: int, expand1x1: int, expand3x3: int, name: str) -> str:
    squeezed = builder.relu(builder.conv(data, squeeze, 1, f"{name}.squeeze", bias=True), f"{name}.squeeze_activation")
    left = builder.conv(squeezed, expand1x1, 1, f"{name}.expand1x1", bias=True)
    left = builder.relu(left, f"{name}.expand1x1_activation")
    right = builder.conv(squeezed, expand3x3, 3, f"{name}.expand3x3", padding=1, bias=True)
    right = builder.relu(right, f"{name}.expand3x3_activation")
    return builder.concat([left, right], f"{name}.concat")


def squeezenet1_1(batch_size: int = 1, seed: int = 0, image_size: int = 224, num_classes: int = 1000) -> onnx.ModelProto:
    """SqueezeNet 1.1: input "input" [B, 3, H, W] float32, output "flatten" [B, num_classes].

    Args:
        batch_size: the static batch dimension.
        seed: seed of the numpy Generator that draws every weight.
        image_size: height and width of the input image (224 in the paper).
        num_classes: width of the classifier convolution.

    Returns:
        The model at opset 17.
    """
    builder = GraphBuilder(
        "squeezenet1_1",
        seed,
        doc_string=f"squeezenet1_1 (torchvision topology), random weights from seed {seed}, input {image_size}x{image_size}",
    )
    data = builder.input("input", [batch_size, 3, image_size, image_size])
    data = builder.relu(builder.conv(data, 64, 3, "features.0", stride=2, bias=True), "features.1")
    data = builder.max_pool(data, 3, 2, "features.2", ceil_mode=True)
    data = _fire(builder, data, 16, 64, 64, "features.3")
    data = _fire(builder, data, 16, 64, 64, "features.4")
    data = builder.max_pool(data, 3, 2, "features.5", ceil_mode=True)
    data = _fire(builder, data, 32, 128, 128, "features.6")
    data = _fire(builder, data, 32, 128, 128, "features.7")
    data = builder.max_pool(data, 3, 2, "features.8", ceil_mode=True)
    data = _fire(builder, data, 48, 192, 192, "features.9")
    data = _fire(builder, data, 48, 192, 192, "features.10")
    data = _fire(builder, data, 64, 256, 256, "features.11")
    data = _fire(builder, data, 64, 256, 256, "features.12")
    data = builder.dropout(data, "classifier.0")
    # torchvision draws the classifier from N(0, 0.01) rather than He scaling.
    data = builder.conv(data, num_classes, 1, "classifier.1", bias=True, weight_standard_deviation=0.01)
    data = builder.relu(data, "classifier.2")
    data = builder.global_average_pool(data, "classifier.3")
    builder.output(builder.flatten(data, "flatten"))
    return builder.to_model()
