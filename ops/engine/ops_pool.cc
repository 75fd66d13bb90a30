// Pooling and reductions: MaxPool, AveragePool (strides, pads, dilations,
// ceil_mode, auto_pad), GlobalAveragePool, GlobalMaxPool and ReduceMean /
// ReduceSum / ReduceMax (axes as attribute or, from opset 13/18, as input).
//
// FLOPs: one operation per window element per output (pooling), one per
// input element (global pooling and reductions).
#include "engine/op_registry.h"
#include "engine/sliding_window.h"

namespace xflow {
namespace {

std::vector<TensorType> InferPool(const OpContext& context) {
  const TensorType& data = context.Input(0);
  if (data.shape.size() < 3) context.Fail("input X must be N x C x spatial..., got " + ShapeToString(data.shape));
  if (!context.HasParam("kernel_shape")) context.Fail("parameter 'kernel_shape' is required");
  const size_t spatial_rank = data.shape.size() - 2;
  const SlidingWindow window = ReadSlidingWindow(context, spatial_rank, {});
  const Shape spatial(data.shape.begin() + 2, data.shape.end());
  Shape output = {data.shape[0], data.shape[1]};
  for (int64_t dim : SlidingWindowOutput(context, spatial, window, context.Int("ceil_mode", 0) != 0)) {
    output.push_back(dim);
  }
  std::vector<TensorType> outputs = {TensorType{data.dtype, output}};
  if (context.NumOutputs() == 2) outputs.push_back(TensorType{DataType::kInt64, output});
  return outputs;
}

double PoolFlops(const OpContext& context, const std::vector<TensorType>& outputs) {
  double window = 1;
  for (int64_t dim : context.Ints("kernel_shape", {})) window *= static_cast<double>(dim);
  return window * static_cast<double>(outputs[0].NumElements());
}

std::vector<TensorType> InferGlobalPool(const OpContext& context) {
  const TensorType& data = context.Input(0);
  if (data.shape.size() < 3) context.Fail("input X must be N x C x spatial..., got " + ShapeToString(data.shape));
  Shape output = data.shape;
  for (size_t i = 2; i < output.size(); ++i) output[i] = 1;
  return {TensorType{data.dtype, output}};
}

double InputElements(const OpContext& context, const std::vector<TensorType>&) {
  return static_cast<double>(context.Input(0).NumElements());
}

std::vector<TensorType> InferReduce(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  IntList axes = context.HasInput(1) ? context.IntValues(1, "axes") : context.Ints("axes", {});
  const bool keep_dims = context.Int("keepdims", 1) != 0;
  if (axes.empty()) {
    // No axes: reduce everything, unless noop_with_empty_axes asks for identity.
    if (context.Int("noop_with_empty_axes", 0) != 0) return {data};
    for (int64_t axis = 0; axis < rank; ++axis) axes.push_back(axis);
  }
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) reduced[static_cast<size_t>(context.Axis(axis, rank, "reduce axis"))] = true;
  Shape output;
  for (size_t i = 0; i < reduced.size(); ++i) {
    if (!reduced[i]) {
      output.push_back(data.shape[i]);
    } else if (keep_dims) {
      output.push_back(1);
    }
  }
  return {TensorType{data.dtype, output}};
}

OpDefinition Define(const char* type, InferFunction infer, FlopsFunction flops) {
  OpDefinition definition;
  definition.type = type;
  definition.infer = infer;
  definition.flops = flops;
  return definition;
}

}  // namespace

void RegisterPoolOps(std::vector<OpDefinition>& registry) {
  OpDefinition max_pool = Define("MaxPool", InferPool, PoolFlops);
  max_pool.max_outputs = 2;
  registry.push_back(max_pool);
  registry.push_back(Define("AveragePool", InferPool, PoolFlops));
  registry.push_back(Define("GlobalAveragePool", InferGlobalPool, InputElements));
  registry.push_back(Define("GlobalMaxPool", InferGlobalPool, InputElements));
  for (const char* type : {"ReduceMean", "ReduceSum", "ReduceMax"}) {
    OpDefinition reduce = Define(type, InferReduce, InputElements);
    reduce.max_inputs = 2;
    reduce.constant_int_inputs = {1};
    registry.push_back(reduce);
  }
}

}  // namespace xflow
