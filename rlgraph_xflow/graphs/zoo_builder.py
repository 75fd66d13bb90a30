"""A small helper for writing ONNX graphs in code; the model zoo is built with it.

Holds:
  GraphBuilder: collects graph inputs, initializers and nodes, tracks every
    tensor's static shape (so a layer knows its input channels, and a too-small
    input size is caught where it happens), draws seeded random weights, and
    returns an opset-17 ModelProto from `to_model()`.
  ONNX_OPSET, ONNX_IR_VERSION: the versions every zoo model is written at.

Tensor names follow the layer names (torchvision / Hugging Face style, e.g.
"layer1.0.conv1"), so an error or a graph drawing points at a familiar layer.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_OPSET = 17
# IR version 8 is the one that introduced opset 17; pinning it keeps the files
# loadable by every runtime that speaks opset 17, not only the newest.
ONNX_IR_VERSION = 8

Shape = list[int]


def _spatial_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, ceil_mode: bool) -> int:
    span = size + pad_begin + pad_end - kernel
    if span < 0:
        return 0
    steps = -(-span // stride) if ceil_mode else span // stride
    return steps + 1


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _pads(padding: int | Sequence[int]) -> list[int]:
    """Turns torch-style padding (one int, or (height, width)) into ONNX pads."""
    height, width = _pair(padding)
    return [height, width, height, width]


def _broadcast_shape(first: Shape, second: Shape) -> Shape:
    rank = max(len(first), len(second))
    first = [1] * (rank - len(first)) + list(first)
    second = [1] * (rank - len(second)) + list(second)
    result = []
    for left, right in zip(first, second):
        if left != right and 1 not in (left, right):
            raise ValueError(f"shapes {first} and {second} do not broadcast")
        result.append(max(left, right))
    return result


class GraphBuilder:
    """Builds one ONNX graph: inputs, seeded random weights, nodes with tracked shapes.

    Example:
        >>> builder = GraphBuilder("tiny", seed=0)
        >>> image = builder.input("image", [1, 3, 8, 8])
        >>> features = builder.conv(image, 4, kernel=3, padding=1, name="conv")
        >>> builder.output(builder.relu(features, name="relu"))
        >>> model = builder.to_model()
    """

    def __init__(self, graph_name: str, seed: int, doc_string: str = "") -> None:
        self.graph_name = graph_name
        self.doc_string = doc_string
        self.random = np.random.default_rng(seed)
        self.shapes: dict[str, Shape] = {}
        self.element_types: dict[str, int] = {}
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._nodes: list[onnx.NodeProto] = []
        self._node_names: set[str] = set()

    # ----------------------------------------------------------------- plumbing
    def _claim(self, tensor_name: str, shape: Shape, element_type: int) -> str:
        if tensor_name in self.shapes:
            raise ValueError(f"graph '{self.graph_name}': tensor name '{tensor_name}' is used twice")
        if any(dimension < 1 for dimension in shape):
            raise ValueError(
                f"graph '{self.graph_name}': tensor '{tensor_name}' would have shape {shape}; every dimension "
                "must be at least 1 (is the input image too small for this network?)"
            )
        self.shapes[tensor_name] = list(shape)
        self.element_types[tensor_name] = element_type
        return tensor_name

    def input(self, name: str, shape: Shape, element_type: int = TensorProto.FLOAT) -> str:
        """Declares a graph input with a static shape and returns its name."""
        self._claim(name, shape, element_type)
        self._inputs.append(helper.make_tensor_value_info(name, element_type, shape))
        return name

    def output(self, tensor_name: str) -> None:
        """Marks an existing tensor as a graph output."""
        self._outputs.append(
            helper.make_tensor_value_info(tensor_name, self.element_types[tensor_name], self.shapes[tensor_name])
        )

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Stores an array as a graph initializer and returns its name."""
        self._claim(name, list(array.shape), helper.np_dtype_to_tensor_dtype(array.dtype))
        self._initializers.append(numpy_helper.from_array(array, name))
        return name

    def int64_constant(self, name: str, values: Sequence[int]) -> str:
        """Stores a 1-D int64 initializer (a shape, axes, split sizes...)."""
        return self.initializer(name, np.asarray(values, dtype=np.int64).reshape(len(values)))

    def float_scalar(self, name: str, value: float) -> str:
        """Stores a float32 scalar initializer used as a broadcast operand."""
        return self.initializer(name, np.asarray(value, dtype=np.float32))

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        name: str,
        output_shapes: Sequence[Shape],
        element_type: int = TensorProto.FLOAT,
        **attributes,
    ) -> list[str]:
        """Adds a node whose outputs have the given shapes; returns the output names.

        A single output is named after the node; several are named
        "<node>.output<i>".
        """
        if name in self._node_names:
            raise ValueError(f"graph '{self.graph_name}': node name '{name}' is used twice")
        self._node_names.add(name)
        if len(output_shapes) == 1:
            output_names = [name]
        else:
            output_names = [f"{name}.output{index}" for index in range(len(output_shapes))]
        for output_name, shape in zip(output_names, output_shapes):
            self._claim(output_name, shape, element_type)
        self._nodes.append(helper.make_node(op_type, list(inputs), output_names, name=name, **attributes))
        return output_names

    # ------------------------------------------------------------------ weights
    def normal(self, shape: Shape, standard_deviation: float, mean: float = 0.0) -> np.ndarray:
        """Draws float32 weights from N(mean, standard_deviation^2)."""
        values = self.random.standard_normal(size=tuple(shape), dtype=np.float32)
        return (values * np.float32(standard_deviation) + np.float32(mean)).astype(np.float32)

    def uniform(self, shape: Shape, low: float, high: float) -> np.ndarray:
        """Draws float32 weights from U(low, high)."""
        return self.random.uniform(low, high, size=tuple(shape)).astype(np.float32)

    # ------------------------------------------------------------- vision layers
    def conv(
        self,
        data: str,
        out_channels: int,
        kernel: int | Sequence[int],
        name: str,
        stride: int = 1,
        padding: int | Sequence[int] = 0,
        bias: bool = False,
        weight_standard_deviation: float | None = None,
    ) -> str:
        """2-D convolution, He-normal weights (std sqrt(2 / fan_in)) unless told otherwise."""
        batch, in_channels, height, width = self.shapes[data]
        kernel_height, kernel_width = _pair(kernel)
        pads = _pads(padding)
        fan_in = in_channels * kernel_height * kernel_width
        standard_deviation = weight_standard_deviation or math.sqrt(2.0 / fan_in)
        weight = self.initializer(
            f"{name}.weight", self.normal([out_channels, in_channels, kernel_height, kernel_width], standard_deviation)
        )
        inputs = [data, weight]
        if bias:
            inputs.append(self.initializer(f"{name}.bias", self.normal([out_channels], 0.01)))
        output_shape = [
            batch,
            out_channels,
            _spatial_output_size(height, kernel_height, stride, pads[0], pads[2], ceil_mode=False),
            _spatial_output_size(width, kernel_width, stride, pads[1], pads[3], ceil_mode=False),
        ]
        return self.node(
            "Conv",
            inputs,
            name,
            [output_shape],
            kernel_shape=[kernel_height, kernel_width],
            strides=[stride, stride],
            pads=pads,
        )[0]

    def batch_norm(self, data: str, name: str, epsilon: float = 1e-5, scale_multiplier: float = 1.0) -> str:
        """Inference BatchNormalization with plausible trained statistics.

        The running mean sits near zero and the running variance near one,
        which is what He-scaled convolutions feed it, so activations keep their
        scale through deep stacks. `scale_multiplier` shrinks gamma, as
        training does for the last normalisation of a residual branch.
        """
        channels = self.shapes[data][1]
        scale = self.initializer(f"{name}.weight", self.uniform([channels], 0.8, 1.2) * np.float32(scale_multiplier))
        shift = self.initializer(f"{name}.bias", self.normal([channels], 0.05))
        mean = self.initializer(f"{name}.running_mean", self.normal([channels], 0.1))
        variance = self.initializer(f"{name}.running_var", np.exp(self.uniform([channels], -0.2, 0.2)).astype(np.float32))
        return self.node(
            "BatchNormalization", [data, scale, shift, mean, variance], name, [self.shapes[data]], epsilon=epsilon
        )[0]

    def relu(self, data: str, name: str) -> str:
        """Rectified linear unit."""
        return self.node("Relu", [data], name, [self.shapes[data]])[0]

    def max_pool(
        self, data: str, kernel: int, stride: int, name: str, padding: int = 0, ceil_mode: bool = False
    ) -> str:
        """Square max pooling (torch semantics, including ceil_mode)."""
        batch, channels, height, width = self.shapes[data]
        pads = _pads(padding)
        output_shape = [
            batch,
            channels,
            _spatial_output_size(height, kernel, stride, pads[0], pads[2], ceil_mode),
            _spatial_output_size(width, kernel, stride, pads[1], pads[3], ceil_mode),
        ]
        return self.node(
            "MaxPool",
            [data],
            name,
            [output_shape],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=pads,
            ceil_mode=int(ceil_mode),
        )[0]

    def average_pool(self, data: str, kernel: int, stride: int, name: str, padding: int = 0) -> str:
        """Square average pooling that counts padding, as torch's avg_pool2d does by default."""
        batch, channels, height, width = self.shapes[data]
        pads = _pads(padding)
        output_shape = [
            batch,
            channels,
            _spatial_output_size(height, kernel, stride, pads[0], pads[2], ceil_mode=False),
            _spatial_output_size(width, kernel, stride, pads[1], pads[3], ceil_mode=False),
        ]
        return self.node(
            "AveragePool",
            [data],
            name,
            [output_shape],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=pads,
            count_include_pad=1,
        )[0]

    def global_average_pool(self, data: str, name: str) -> str:
        """Averages each channel over its spatial positions, keeping a 1x1 map."""
        batch, channels = self.shapes[data][:2]
        return self.node("GlobalAveragePool", [data], name, [[batch, channels, 1, 1]])[0]

    def flatten(self, data: str, name: str) -> str:
        """Flattens everything after the batch axis."""
        shape = self.shapes[data]
        return self.node("Flatten", [data], name, [[shape[0], int(np.prod(shape[1:]))]], axis=1)[0]

    def dropout(self, data: str, name: str) -> str:
        """Dropout as exported for inference: an identity that marks where training drops."""
        return self.node("Dropout", [data], name, [self.shapes[data]])[0]

    def concat(self, tensors: Sequence[str], name: str, axis: int = 1) -> str:
        """Concatenates tensors along an axis (channels by default)."""
        output_shape = list(self.shapes[tensors[0]])
        output_shape[axis] = sum(self.shapes[tensor][axis] for tensor in tensors)
        return self.node("Concat", list(tensors), name, [output_shape], axis=axis)[0]

    def gemm(self, data: str, out_features: int, name: str) -> str:
        """A fully connected layer stored like torch's Linear: weight [out, in], transB=1."""
        batch, in_features = self.shapes[data]
        weight = self.initializer(f"{name}.weight", self.normal([out_features, in_features], 1.0 / math.sqrt(in_features)))
        bias = self.initializer(f"{name}.bias", self.normal([out_features], 0.01))
        return self.node("Gemm", [data, weight, bias], name, [[batch, out_features]], transB=1)[0]

    # ------------------------------------------------------- sequence / tensors
    def binary(self, op_type: str, first: str, second: str, name: str) -> str:
        """An element-wise broadcasting op (Add, Sub, Mul, Div, Pow)."""
        shape = _broadcast_shape(self.shapes[first], self.shapes[second])
        return self.node(op_type, [first, second], name, [shape])[0]

    def unary(self, op_type: str, data: str, name: str) -> str:
        """A shape-preserving element-wise op (Relu, Erf, Tanh, Sqrt, ...)."""
        return self.node(op_type, [data], name, [self.shapes[data]])[0]

    def matmul(self, first: str, second: str, name: str) -> str:
        """numpy-style batched matrix product."""
        first_shape, second_shape = self.shapes[first], self.shapes[second]
        if first_shape[-1] != second_shape[-2]:
            raise ValueError(f"MatMul '{name}': inner dimensions differ: {first_shape} @ {second_shape}")
        batch_shape = _broadcast_shape(first_shape[:-2], second_shape[:-2])
        return self.node("MatMul", [first, second], name, [batch_shape + [first_shape[-2], second_shape[-1]]])[0]

    def reshape(self, data: str, shape: Shape, name: str) -> str:
        """Reshapes to a fully static shape."""
        if int(np.prod(shape)) != int(np.prod(self.shapes[data])):
            raise ValueError(f"Reshape '{name}': cannot reshape {self.shapes[data]} into {shape}")
        target = self.int64_constant(f"{name}.shape", shape)
        return self.node("Reshape", [data, target], name, [list(shape)])[0]

    def transpose(self, data: str, permutation: Sequence[int], name: str) -> str:
        """Permutes axes."""
        shape = self.shapes[data]
        return self.node("Transpose", [data], name, [[shape[axis] for axis in permutation]], perm=list(permutation))[0]

    def unsqueeze(self, data: str, axes: Sequence[int], name: str) -> str:
        """Inserts size-1 axes (given as an int64 input, as opset 13+ wants)."""
        shape = list(self.shapes[data])
        for axis in sorted(axes):
            shape.insert(axis, 1)
        axes_name = self.int64_constant(f"{name}.axes", list(axes))
        return self.node("Unsqueeze", [data, axes_name], name, [shape])[0]

    def gather(self, table: str, indices: str, name: str) -> str:
        """Looks rows of a table up by index (an embedding)."""
        shape = self.shapes[indices] + self.shapes[table][1:]
        return self.node("Gather", [table, indices], name, [shape], axis=0)[0]

    def softmax(self, data: str, name: str) -> str:
        """Softmax over the last axis."""
        return self.node("Softmax", [data], name, [self.shapes[data]], axis=-1)[0]

    def layer_norm(self, data: str, name: str, epsilon: float = 1e-12) -> str:
        """LayerNormalization over the last axis with near-identity learned scale and shift."""
        width = self.shapes[data][-1]
        scale = self.initializer(f"{name}.weight", self.uniform([width], 0.9, 1.1))
        shift = self.initializer(f"{name}.bias", self.normal([width], 0.02))
        return self.node("LayerNormalization", [data, scale, shift], name, [self.shapes[data]], axis=-1, epsilon=epsilon)[0]

    # -------------------------------------------------------------------- model
    def to_model(self) -> onnx.ModelProto:
        """Returns the graph as an opset-17 ModelProto (deterministic bytes for a given seed)."""
        if not self._outputs:
            raise ValueError(f"graph '{self.graph_name}' has no outputs; call output() first")
        graph = helper.make_graph(
            self._nodes, self.graph_name, self._inputs, self._outputs, initializer=self._initializers
        )
        graph.doc_string = self.doc_string
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
            producer_name="rlgraph_xflow.graphs.zoo",
        )
        model.ir_version = ONNX_IR_VERSION
        return model
