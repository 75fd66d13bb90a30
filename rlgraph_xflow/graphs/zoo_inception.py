"""Inception-v3 as an ONNX graph, topology identical to torchvision's inference graph.

Holds:
  inception_v3: Szegedy et al. 2016, "Rethinking the Inception Architecture
    for Computer Vision": the stem, Mixed_5b..5d (InceptionA), Mixed_6a
    (InceptionB), Mixed_6b..6e (InceptionC), Mixed_7a (InceptionD), Mixed_7b..7c
    (InceptionE), global average pooling, dropout and the classifier; 299x299
    input. The auxiliary classifier only exists in training mode and is left
    out, as in torchvision's eval() export. 94 convolutions in all.

Each "BasicConv2d" is Conv (no bias) -> BatchNormalization (eps 0.001) -> Relu.
"""
from __future__ import annotations

import onnx

from rlgraph_xflow.graphs.zoo_builder import GraphBuilder


def _basic_conv(builder: GraphBuilder, data: str, out_channels: int, kernel, name: str, stride: int = 1, padding=0) -> str:
    out = builder.conv(data, out_channels, kernel, f"{name}.conv", stride=stride, padding=padding)
    out = builder.batch_norm(out, f"{name}.bn", epsilon=0.001)
    return builder.relu(out, f"{name}.relu")


def _inception_a(builder: GraphBuilder, data: str, pool_features: int, name: str) -> str:
    branch1x1 = _basic_conv(builder, data, 64, 1, f"{name}.branch1x1")
    branch5x5 = _basic_conv(builder, data, 48, 1, f"{name}.branch5x5_1")
    branch5x5 = _basic_conv(builder, branch5x5, 64, 5, f"{name}.branch5x5_2", padding=2)
    branch3x3dbl = _basic_conv(builder, data, 64, 1, f"{name}.branch3x3dbl_1")
    branch3x3dbl = _basic_conv(builder, branch3x3dbl, 96, 3, f"{name}.branch3x3dbl_2", padding=1)
    branch3x3dbl = _basic_conv(builder, branch3x3dbl, 96, 3, f"{name}.branch3x3dbl_3", padding=1)
    branch_pool = builder.average_pool(data, 3, 1, f"{name}.avg_pool", padding=1)
    branch_pool = _basic_conv(builder, branch_pool, pool_features, 1, f"{name}.branch_pool")
    return builder.concat([branch1x1, branch5x5, branch3x3dbl, branch_pool], f"{name}.concat")


def _inception_b(builder: GraphBuilder, data: str, name: str) -> str:
    branch3x3 = _basic_conv(builder, data, 384, 3, f"{name}.branch3x3", stride=2)
    branch3x3dbl = _basic_conv(builder, data, 64, 1, f"{name}.branch3x3dbl_1")
    branch3x3dbl = _basic_conv(builder, branch3x3dbl, 96, 3, f"{name}.branch3x3dbl_2", padding=1)
    branch3x3dbl = _basic_conv(builder, branch3x3dbl, 96, 3, f"{name}.branch3x3dbl_3", stride=2)
    branch_pool = builder.max_pool(data, 3, 2, f"{name}.max_pool")
    return builder.concat([branch3x3, branch3x3dbl, branch_pool], f"{name}.concat")


def _inception_c(builder: GraphBuilder, data: str, channels_7x7: int, name: str) -> str:
    branch1x1 = _basic_conv(builder, data, 192, 1, f"{name}.branch1x1")
    branch7x7 = _basic_conv(builder, data, channels_7x7, 1, f"{name}.branch7x7_1")
    branch7x7 = _basic_conv(builder, branch7x7, channels_7x7, (1, 7), f"{name}.branch7x7_2", padding=(0, 3))
    branch7x7 = _basic_conv(builder, branch7x7, 192, (7, 1), f"{name}.branch7x7_3", padding=(3, 0))
    branch7x7dbl = _basic_conv(builder, data, channels_7x7, 1, f"{name}.branch7x7dbl_1")
    branch7x7dbl = _basic_conv(builder, branch7x7dbl, channels_7x7, (7, 1), f"{name}.branch7x7dbl_2", padding=(3, 0))
    branch7x7dbl = _basic_conv(builder, branch7x7dbl, channels_7x7, (1, 7), f"{name}.branch7x7dbl_3", padding=(0, 3))
    branch7x7dbl = _basic_conv(builder, branch7x7dbl, channels_7x7, (7, 1), f"{name}.branch7x7dbl_4", padding=(3, 0))
    branch7x7dbl = _basic_conv(builder, branch7x7dbl, 192, (1, 7), f"{name}.branch7x7dbl_5", padding=(0, 3))
    branch_pool = builder.average_pool(data, 3, 1, f"{name}.avg_pool", padding=1)
    branch_pool = _basic_conv(builder, branch_pool, 192, 1, f"{name}.branch_pool")
    return builder.concat([branch1x1, branch7x7, branch7x7dbl, branch_pool], f"{name}.concat")


def _inception_d(builder: GraphBuilder, data: str, name: str) -> str:
    branch3x3 = _basic_conv(builder, data, 192, 1, f"{name}.branch3x3_1")
    branch3x3 = _basic_conv(builder, branch3x3, 320, 3, f"{name}.branch3x3_2", stride=2)
    branch7x7x3 = _basic_conv(builder, data, 192, 1, f"{name}.branch7x7x3_1")
    branch7x7x3 = _basic_conv(builder, branch7x7x3, 192, (1, 7), f"{name}.branch7x7x3_2", padding=(0, 3))
    branch7x7x3 = _basic_conv(builder, branch7x7x3, 192, (7, 1), f"{name}.branch7x7x3_3", padding=(3, 0))
    branch7x7x3 = _basic_conv(builder, branch7x7x3, 192, 3, f"{name}.branch7x7x3_4", stride=2)
    branch_pool = builder.max_pool(data, 3, 2, f"{name}.max_pool")
    return builder.concat([branch3x3, branch7x7x3, branch_pool], f"{name}.concat")


def _inception_e(builder: GraphBuilder, data: str, name: str) -> str:
    branch1x1 = _basic_conv(builder, data, 320, 1, f"{name}.branch1x1")
    branch3x3 = _basic_conv(builder, data, 384, 1, f"{name}.branch3x3_1")
    branch3x3 = builder.concat(
        [
            _basic_conv(builder, branch3x3, 384, (1, 3), f"{name}.branch3x3_2a", padding=(0, 1)),
            _basic_conv(builder, branch3x3, 384, (3, 1), f"{name}.branch3x3_2b", padding=(1, 0)),
        ],
        f"{name}.branch3x3_concat",
    )
    branch3x3dbl = _basic_conv(builder, data, 448, 1, f"{name}.branch3x3dbl_1")
    branch3x3dbl = _basic_conv(builder, branch3x3dbl, 384, 3, f"{name}.branch3x3dbl_2", padding=1)
    branch3x3dbl = builder.concat(
        [
            _basic_conv(builder, branch3x3dbl, 384, (1, 3), f"{name}.branch3x3dbl_3a", padding=(0, 1)),
            _basic_conv(builder, branch3x3dbl, 384, (3, 1), f"{name}.branch3x3dbl_3b", padding=(1, 0)),
        ],
        f"{name}.branch3x3dbl_concat",
    )
    branch_pool = builder.average_pool(data, 3, 1, f"{name}.avg_pool", padding=1)
    branch_pool = _basic_conv(builder, branch_pool, 192, 1, f"{name}.branch_pool")
    return builder.concat([branch1x1, branch3x3, branch3x3dbl, branch_pool], f"{name}.concat")


def inception_v3(batch_size: int = 1, seed: int = 0, image_size: int = 299, num_classes: int = 1000) -> onnx.ModelProto:
    """Inception-v3: input "input" [B, 3, H, W] float32, output "fc" [B, num_classes] logits.

    Args:
        batch_size: the static batch dimension.
        seed: seed of the numpy Generator that draws every weight.
        image_size: height and width of the input image (299 in the paper;
            75 is the smallest the strided stem and reductions accept).
        num_classes: width of the classifier.

    Returns:
        The model at opset 17.
    """
    builder = GraphBuilder(
        "inception_v3",
        seed,
        doc_string=f"inception_v3 (torchvision topology, no aux classifier), random weights from seed {seed}, "
        f"input {image_size}x{image_size}",
    )
    data = builder.input("input", [batch_size, 3, image_size, image_size])
    data = _basic_conv(builder, data, 32, 3, "Conv2d_1a_3x3", stride=2)
    data = _basic_conv(builder, data, 32, 3, "Conv2d_2a_3x3")
    data = _basic_conv(builder, data, 64, 3, "Conv2d_2b_3x3", padding=1)
    data = builder.max_pool(data, 3, 2, "maxpool1")
    data = _basic_conv(builder, data, 80, 1, "Conv2d_3b_1x1")
    data = _basic_conv(builder, data, 192, 3, "Conv2d_4a_3x3")
    data = builder.max_pool(data, 3, 2, "maxpool2")
    data = _inception_a(builder, data, 32, "Mixed_5b")
    data = _inception_a(builder, data, 64, "Mixed_5c")
    data = _inception_a(builder, data, 64, "Mixed_5d")
    data = _inception_b(builder, data, "Mixed_6a")
    data = _inception_c(builder, data, 128, "Mixed_6b")
    data = _inception_c(builder, data, 160, "Mixed_6c")
    data = _inception_c(builder, data, 160, "Mixed_6d")
    data = _inception_c(builder, data, 192, "Mixed_6e")
    data = _inception_d(builder, data, "Mixed_7a")
    data = _inception_e(builder, data, "Mixed_7b")
    data = _inception_e(builder, data, "Mixed_7c")
    data = builder.global_average_pool(data, "avgpool")
    data = builder.flatten(builder.dropout(data, "dropout"), "flatten")
    builder.output(builder.gemm(data, num_classes, "fc"))
    return builder.to_model()
