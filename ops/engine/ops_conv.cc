// Conv: N-d grouped, strided, dilated, padded convolution with optional bias.
//
// Fused activation: the engine-only string parameter "activation" (absent by
// default; the only value is "relu") makes the op Relu(Conv(...)), produced
// by the conv+relu fusion rule. It is one kernel: FLOPs and bytes are those
// of the conv alone (the activation runs in the conv's epilogue, as cuDNN
// and oneDNN fuse it). ONNX Conv has no such attribute, so export writes it
// back as a Conv node followed by a Relu node (onnxruntime fuses them again)
// and measurement descriptors time the plain Conv.
//
// FLOPs count a multiply-add as 2: 2 * N * M * prod(output spatial) *
// (C / group) * prod(kernel), plus one add per output element for the bias.
#include "engine/op_registry.h"
#include "engine/sliding_window.h"

namespace xflow {
namespace {

std::vector<TensorType> InferConv(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const TensorType& weight = context.Input(1);
  if (data.shape.size() < 3) context.Fail("input X must be N x C x spatial..., got " + ShapeToString(data.shape));
  if (weight.shape.size() != data.shape.size()) {
    context.Fail("weight W " + ShapeToString(weight.shape) + " must have the rank of X " + ShapeToString(data.shape));
  }
  const std::string activation = context.String("activation", "");
  if (context.HasParam("activation") && activation != "relu") {
    context.Fail("parameter 'activation' must be \"relu\" (or absent), got \"" + activation + "\"");
  }
  const int64_t group = context.Int("group", 1);
  const int64_t channels = data.shape[1];
  const int64_t filters = weight.shape[0];
  if (group < 1 || channels % group != 0 || filters % group != 0) {
    context.Fail("group " + std::to_string(group) + " must divide the input channels " + std::to_string(channels) +
                 " and the filters " + std::to_string(filters));
  }
  if (weight.shape[1] != channels / group) {
    context.Fail("weight W " + ShapeToString(weight.shape) + " must have C/group = " +
                 std::to_string(channels / group) + " input channels (X is " + ShapeToString(data.shape) +
                 ", group " + std::to_string(group) + ")");
  }
  if (context.HasInput(2)) {
    const Shape& bias = context.Input(2).shape;
    if (bias.size() != 1 || bias[0] != filters) {
      context.Fail("bias B must be [" + std::to_string(filters) + "], got " + ShapeToString(bias));
    }
  }
  const size_t spatial_rank = data.shape.size() - 2;
  const IntList weight_kernel(weight.shape.begin() + 2, weight.shape.end());
  const SlidingWindow window = ReadSlidingWindow(context, spatial_rank, weight_kernel);
  if (window.kernel != weight_kernel) {
    context.Fail("kernel_shape " + ShapeToString(window.kernel) + " differs from the weight's spatial shape " +
                 ShapeToString(weight_kernel));
  }
  const Shape spatial(data.shape.begin() + 2, data.shape.end());
  Shape output = {data.shape[0], filters};
  for (int64_t dim : SlidingWindowOutput(context, spatial, window, false)) output.push_back(dim);
  return {TensorType{data.dtype, output}};
}

double ConvFlops(const OpContext& context, const std::vector<TensorType>& outputs) {
  const Shape& weight = context.Input(1).shape;
  double kernel_volume = 1;
  for (size_t i = 2; i < weight.size(); ++i) kernel_volume *= static_cast<double>(weight[i]);
  const auto output_elements = static_cast<double>(outputs[0].NumElements());
  const double multiply_adds = output_elements * static_cast<double>(weight[1]) * kernel_volume;
  return 2 * multiply_adds + (context.HasInput(2) ? output_elements : 0);
}

}  // namespace

void RegisterConvOps(std::vector<OpDefinition>& registry) {
  OpDefinition conv;
  conv.type = "Conv";
  conv.min_inputs = 2;
  conv.max_inputs = 3;
  conv.infer = InferConv;
  conv.flops = ConvFlops;
  registry.push_back(conv);
}

}  // namespace xflow
