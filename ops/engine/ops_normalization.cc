// BatchNormalization (inference form) and LayerNormalization (opset 17).
//
// FLOPs per element: BatchNormalization 2 (a scale and a shift once folded);
// LayerNormalization 8 (mean, centre, square, variance, rsqrt, normalise,
// scale, shift).
#include "engine/op_registry.h"

namespace xflow {
namespace {

std::vector<TensorType> InferBatchNormalization(const OpContext& context) {
  const TensorType& data = context.Input(0);
  if (context.Int("training_mode", 0) != 0 || context.NumOutputs() != 1) {
    context.Fail("only the inference form is supported (training_mode=0, one output)");
  }
  if (data.shape.size() < 2) context.Fail("input X must be at least N x C, got " + ShapeToString(data.shape));
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  for (int32_t i = 1; i <= 4; ++i) {
    const Shape& shape = context.Input(i).shape;
    if (shape.size() != 1 || shape[0] != data.shape[1]) {
      context.Fail(std::string("input ") + names[i - 1] + " must be [" + std::to_string(data.shape[1]) + "], got " +
                   ShapeToString(shape));
    }
  }
  return {data};
}

double TwoPerElement(const OpContext&, const std::vector<TensorType>& outputs) { return 2 * ElementsOf(outputs); }

std::vector<TensorType> InferLayerNormalization(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  const int64_t axis = context.Axis(context.Int("axis", -1), rank, "axis");
  const Shape normalized(data.shape.begin() + axis, data.shape.end());
  for (int32_t i = 1; i <= 2; ++i) {
    if (!context.HasInput(i)) continue;
    const Shape& shape = context.Input(i).shape;
    if (BroadcastShapes(context, shape, normalized) != normalized) {
      context.Fail("input " + std::to_string(i) + " " + ShapeToString(shape) + " must broadcast to the normalised shape " +
                   ShapeToString(normalized));
    }
  }
  std::vector<TensorType> outputs = {data};
  // Mean and InvStdDev keep the leading axes and are 1 over the normalised ones.
  Shape statistics(data.shape.begin(), data.shape.begin() + axis);
  statistics.resize(static_cast<size_t>(rank), 1);
  const auto stash_type = static_cast<int32_t>(context.Int("stash_type", 1));
  for (int32_t i = 1; i < context.NumOutputs(); ++i) {
    outputs.push_back(TensorType{DataTypeFromOnnxCode(stash_type), statistics});
  }
  return outputs;
}

double LayerNormalizationFlops(const OpContext& context, const std::vector<TensorType>&) {
  return 8 * static_cast<double>(context.Input(0).NumElements());
}

}  // namespace

void RegisterNormalizationOps(std::vector<OpDefinition>& registry) {
  OpDefinition batch_normalization;
  batch_normalization.type = "BatchNormalization";
  batch_normalization.min_inputs = 5;
  batch_normalization.max_inputs = 5;
  batch_normalization.max_outputs = 3;
  batch_normalization.infer = InferBatchNormalization;
  batch_normalization.flops = TwoPerElement;
  registry.push_back(batch_normalization);

  OpDefinition layer_normalization;
  layer_normalization.type = "LayerNormalization";
  layer_normalization.min_inputs = 2;
  layer_normalization.max_inputs = 3;
  layer_normalization.max_outputs = 3;
  layer_normalization.infer = InferLayerNormalization;
  layer_normalization.flops = LayerNormalizationFlops;
  registry.push_back(layer_normalization);
}

}  // namespace xflow
