// The kernels a runtime actually launches for a graph: which ops it fuses.
//
//   RuntimeKernel    one launched kernel: its member ops in graph order (the
//                    last one produces the kernel's output).
//   RuntimeKernels   the partition of a graph's launched ops into kernels.
//   FindRuntimeKernels  the partition onnxruntime's CPU execution provider
//                    makes at ORT_ENABLE_ALL (onnxruntime 1.31, x86-64 with
//                    AVX2 or better).
//   KernelKey / KernelHash  what identifies a kernel configuration for cost
//                    lookup: its members' cost keys (CostKey) and how they
//                    are wired to each other.
//   KernelDescriptor what Python needs to build and time a kernel alone.
//
// Why: a runtime prices what it runs, not the ONNX nodes it was given. At
// ORT_ENABLE_ALL, resnet50's 175 ops run as 58 kernels (Conv with its
// BatchNormalization, residual Add and Relu fused in) and bert_base's
// MatMul+Add pairs run as Gemm, Add+LayerNormalization as
// SkipLayerNormalization and GELU's five ops as one Gelu kernel. A cost
// model that prices ops apart rewards merges the runtime already does.
//
// The fusions modelled (each needs the fused-away tensors to have exactly
// one reader and not be graph outputs):
//   Conv      absorbs, in this order: BatchNormalization / Add / Mul with
//             constant operands (folded into weights at session creation),
//             one residual Add of a same-shaped tensor (NCHWc "Sum"), and
//             one activation (Relu, Clip, Sigmoid, Tanh, LeakyRelu). An
//             engine Conv with activation="relu" already has its activation.
//   MatMul    with a constant 2-D weight absorbs an Add of a constant bias
//             (Gemm) and then one activation (FusedGemm); any MatMul absorbs
//             a Mul/Div by a constant scalar on an input or its output, and a
//             Transpose of its input's last two axes (FusedMatMul).
//   LayerNormalization absorbs an Add producing its input
//             (SkipLayerNormalization), unless that Add is a MatMul's bias.
//   GELU      Div(x, c) -> Erf -> Add(c) -> Mul(x, .) -> Mul(., c), or
//             with the half multiplied first, is one Gelu kernel.
// Ops that launch nothing (leaves, metadata ops, ops of constants only) are
// in no kernel. Every other op is a kernel of its own.
//
// The test (tests/ops/test_runtime_kernels.py) compares the kernel count
// with the node count of the model onnxruntime itself optimizes, graph by
// graph.
#ifndef RLGRAPH_XFLOW_ENGINE_RUNTIME_KERNELS_H_
#define RLGRAPH_XFLOW_ENGINE_RUNTIME_KERNELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/measurement.h"

namespace xflow {

struct RuntimeKernel {
  std::vector<int32_t> ops;  // graph order
};

// A layout copy onnxruntime inserts: its CPU provider runs Conv (with pools,
// Concat, Add, BatchNormalization and activations that read its outputs) in
// a blocked channel layout (NCHWc, 8 channels a block with AVX2), and copies
// a tensor into that layout where a Conv reads a plain one (ReorderInput)
// and out of it where a plain op or a graph output reads a blocked one
// (ReorderOutput). Its cost is priced like a kernel's and booked to `op`.
struct LayoutReorder {
  bool to_blocked = false;  // ReorderInput; else ReorderOutput
  TensorType type;          // the tensor copied (its plain NCHW type)
  int32_t op = -1;          // the op whose cost carries it
};

struct RuntimeKernels {
  std::vector<RuntimeKernel> kernels;
  std::vector<int32_t> kernel_of_op;  // per op: index into kernels, or -1
  std::vector<LayoutReorder> reorders;
};

// constant as returned by graph.ConstantOps().
RuntimeKernels FindRuntimeKernels(const Graph& graph, const std::vector<bool>& constant);

std::string KernelKey(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant);
uint64_t KernelHash(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant);

// A kernel as a small graph: its members' descriptors (MeasurementDescriptorOf,
// except that a Conv's fused activation is kept in fused_activation) and, per
// member input, the member position and output that feeds it; (-1, k) for
// the k-th distinct tensor from outside the kernel; (-1, -1) for an omitted
// optional input.
struct KernelDescriptor {
  std::string kernel_key;
  std::vector<MeasurementDescriptor> members;
  std::vector<std::string> fused_activation;  // per member: "" or "relu"
  std::vector<std::vector<std::pair<int32_t, int32_t>>> member_inputs;
  std::string reorder;       // "" for a kernel; "ReorderInput" or "ReorderOutput" for a layout copy
  TensorType reorder_type;   // the tensor a layout copy copies
};

KernelDescriptor KernelDescriptorOf(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant);

// A reorder's key ("ReorderInput(float32[1,64,56,56])"), hash and descriptor
// (kernel_key, no members, reorder and reorder_type set).
std::string ReorderKey(const LayoutReorder& reorder);
uint64_t ReorderHash(const LayoutReorder& reorder);
KernelDescriptor ReorderDescriptorOf(const LayoutReorder& reorder);
// One descriptor per distinct kernel (and layout copy) key of the graph, in graph order.
std::vector<KernelDescriptor> KernelDescriptors(const Graph& graph);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_RUNTIME_KERNELS_H_
