"""ResNet-18 and ResNet-50 as ONNX graphs, topology identical to torchvision's.

Holds:
  resnet18: basic blocks [2, 2, 2, 2] (He et al. 2016, "Deep Residual Learning
    for Image Recognition").
  resnet50: bottleneck blocks [3, 4, 6, 3], stride on the 3x3 convolution
    (torchvision's "ResNet v1.5").

Every convolution is followed by its own BatchNormalization (not folded: the
engine folds them), the shortcut gets a 1x1 convolution + BatchNormalization
whenever the block changes resolution or width, exactly as in torchvision.
"""
from __future__ import annotations

import onnx

from rlgraph_xflow.graphs.zoo_builder import GraphBuilder

# Trained ResNets end each residual branch with a small BatchNorm gamma; doing
# the same keeps the variance growth over 16 additions modest.
_RESIDUAL_BRANCH_SCALE = 0.25


def _basic_block(builder: GraphBuilder, data: str, planes: int, stride: int, name: str) -> str:
    in_channels = builder.shapes[data][1]
    out = builder.conv(data, planes, 3, f"{name}.conv1", stride=stride, padding=1)
    out = builder.relu(builder.batch_norm(out, f"{name}.bn1"), f"{name}.relu1")
    out = builder.conv(out, planes, 3, f"{name}.conv2", padding=1)
    out = builder.batch_norm(out, f"{name}.bn2", scale_multiplier=_RESIDUAL_BRANCH_SCALE)
    shortcut = data
    if stride != 1 or in_channels != planes:
        shortcut = builder.conv(data, planes, 1, f"{name}.downsample.0", stride=stride)
        shortcut = builder.batch_norm(shortcut, f"{name}.downsample.1")
    return builder.relu(builder.binary("Add", out, shortcut, f"{name}.add"), f"{name}.relu2")


def _bottleneck_block(builder: GraphBuilder, data: str, planes: int, stride: int, name: str) -> str:
    expansion = 4
    in_channels = builder.shapes[data][1]
    out = builder.conv(data, planes, 1, f"{name}.conv1")
    out = builder.relu(builder.batch_norm(out, f"{name}.bn1"), f"{name}.relu1")
    out = builder.conv(out, planes, 3, f"{name}.conv2", stride=stride, padding=1)
    out = builder.relu(builder.batch_norm(out, f"{name}.bn2"), f"{name}.relu2")
    out = builder.conv(out, planes * expansion, 1, f"{name}.conv3")
    out = builder.batch_norm(out, f"{name}.bn3", scale_multiplier=_RESIDUAL_BRANCH_SCALE)
    shortcut = data
    if stride != 1 or in_channels != planes * expansion:
        shortcut = builder.conv(data, planes * expansion, 1, f"{name}.downsample.0", stride=stride)
        shortcut = builder.batch_norm(shortcut, f"{name}.downsample.1")
    return builder.relu(builder.binary("Add", out, shortcut, f"{name}.add"), f"{name}.relu3")


def _resnet(
    graph_name: str,
    block,
    blocks_per_stage: list[int],
    batch_size: int,
    seed: int,
    image_size: int,
    num_classes: int,
) -> onnx.ModelProto:
    builder = GraphBuilder(
        graph_name,
        seed,
        doc_string=f"{graph_name} (torchvision topology), random weights from seed {seed}, input {image_size}x{image_size}",
    )
    data = builder.input("input", [batch_size, 3, image_size, image_size])
    data = builder.conv(data, 64, 7, "conv1", stride=2, padding=3)
    data = builder.relu(builder.batch_norm(data, "bn1"), "relu")
    data = builder.max_pool(data, 3, 2, "maxpool", padding=1)
    for stage, (planes, blocks) in enumerate(zip([64, 128, 256, 512], blocks_per_stage), start=1):
        for index in range(blocks):
            stride = 2 if stage > 1 and index == 0 else 1
            data = block(builder, data, planes, stride, f"layer{stage}.{index}")
    data = builder.flatten(builder.global_average_pool(data, "avgpool"), "flatten")
    builder.output(builder.gemm(data, num_classes, "fc"))
    return builder.to_model()


def resnet18(batch_size: int = 1, seed: int = 0, image_size: int = 224, num_classes: int = 1000) -> onnx.ModelProto:
    """ResNet-18: input "input" [B, 3, H, W] float32, output "fc" [B, num_classes] logits.

    Args:
        batch_size: the static batch dimension.
        seed: seed of the numpy Generator that draws every weight.
        image_size: height and width of the input image (224 in the paper).
        num_classes: width of the classifier.

    Returns:
        The model at opset 17.
    """
    return _resnet("resnet18", _basic_block, [2, 2, 2, 2], batch_size, seed, image_size, num_classes)


def resnet50(batch_size: int = 1, seed: int = 0, image_size: int = 224, num_classes: int = 1000) -> onnx.ModelProto:
    """ResNet-50: input "input" [B, 3, H, W] float32, output "fc" [B, num_classes] logits.

    Args:
        batch_size: the static batch dimension.
        seed: seed of the numpy Generator that draws every weight.
        image_size: height and width of the input image (224 in the paper).
        num_classes: width of the classifier.

    Returns:
        The model at opset 17.
    """
    return _resnet("resnet50", _bottleneck_block, [3, 4, 6, 3], batch_size, seed, image_size, num_classes)
