// Element-wise ops: unary activations (Relu, Sigmoid, Tanh, LeakyRelu, Clip,
// Erf, Sqrt, Exp, Cast), Softmax, the broadcasting binaries (Add, Sub, Mul,
// Div, Pow) and the inference-time no-ops (Identity, Dropout).
//
// FLOPs per output element are a fixed, documented count per op (below);
// Identity and Dropout need no kernel: they are aliases at inference time.
#include "engine/graph.h"
#include "engine/op_registry.h"

namespace xflow {
namespace {

std::vector<TensorType> SameAsFirstInput(const OpContext& context) { return {context.Input(0)}; }

std::vector<TensorType> InferClip(const OpContext& context) {
  for (int32_t i = 1; i <= 2; ++i) {
    if (context.HasInput(i) && context.Input(i).NumElements() != 1) {
      context.Fail("min/max (input " + std::to_string(i) + ") must be scalars, got " +
                   ShapeToString(context.Input(i).shape));
    }
  }
  return {context.Input(0)};
}

std::vector<TensorType> InferCast(const OpContext& context) {
  if (!context.HasParam("to")) context.Fail("parameter 'to' (the target ONNX dtype code) is required");
  return {TensorType{DataTypeFromOnnxCode(static_cast<int32_t>(context.Int("to", 0))), context.Input(0).shape}};
}

std::vector<TensorType> InferSoftmax(const OpContext& context) {
  const auto rank = static_cast<int64_t>(context.Input(0).shape.size());
  context.Axis(context.Int("axis", -1), rank, "axis");
  return {context.Input(0)};
}

std::vector<TensorType> InferDropout(const OpContext& context) {
  std::vector<TensorType> outputs = {context.Input(0)};
  if (context.NumOutputs() == 2) outputs.push_back(TensorType{DataType::kBool, context.Input(0).shape});
  return outputs;
}

std::vector<TensorType> InferBinary(const OpContext& context) {
  const TensorType& left = context.Input(0);
  const TensorType& right = context.Input(1);
  if (left.dtype != right.dtype && context.op().type != "Pow") {
    context.Fail("operands must share a dtype, got " + TensorTypeToString(left) + " and " + TensorTypeToString(right));
  }
  return {TensorType{left.dtype, BroadcastShapes(context, left.shape, right.shape)}};
}

template <int kFlopsPerElement>
double PerElement(const OpContext&, const std::vector<TensorType>& outputs) {
  return kFlopsPerElement * ElementsOf(outputs);
}

double NoBytes(const OpContext&, const std::vector<TensorType>&) { return 0; }

OpDefinition Define(const char* type, InferFunction infer, FlopsFunction flops, int32_t max_inputs = 1) {
  OpDefinition definition;
  definition.type = type;
  definition.max_inputs = max_inputs;
  definition.infer = infer;
  definition.flops = flops;
  return definition;
}

}  // namespace

void RegisterElementwiseOps(std::vector<OpDefinition>& registry) {
  registry.push_back(Define("Relu", SameAsFirstInput, PerElement<1>));
  registry.push_back(Define("LeakyRelu", SameAsFirstInput, PerElement<2>));
  // Transcendental functions: a polynomial/rational approximation costs
  // about four operations per element.
  registry.push_back(Define("Sigmoid", SameAsFirstInput, PerElement<4>));
  registry.push_back(Define("Tanh", SameAsFirstInput, PerElement<4>));
  registry.push_back(Define("Erf", SameAsFirstInput, PerElement<4>));
  registry.push_back(Define("Exp", SameAsFirstInput, PerElement<4>));
  registry.push_back(Define("Sqrt", SameAsFirstInput, PerElement<1>));
  registry.push_back(Define("Clip", InferClip, PerElement<2>, 3));
  registry.push_back(Define("Cast", InferCast, PerElement<1>));
  // Softmax: max, subtract, exp (4), sum, divide.
  registry.push_back(Define("Softmax", InferSoftmax, PerElement<8>));
  for (const char* type : {"Add", "Sub", "Mul", "Div"}) {
    OpDefinition binary = Define(type, InferBinary, PerElement<1>, 2);
    binary.min_inputs = 2;
    registry.push_back(binary);
  }
  OpDefinition power = Define("Pow", InferBinary, PerElement<4>, 2);
  power.min_inputs = 2;
  registry.push_back(power);

  OpDefinition identity = Define("Identity", SameAsFirstInput, nullptr);
  identity.needs_kernel = false;
  identity.bytes = NoBytes;
  registry.push_back(identity);
  // Inference-time Dropout passes its input through; ratio and
  // training_mode inputs are accepted but do not change shapes.
  OpDefinition dropout = Define("Dropout", InferDropout, nullptr, 3);
  dropout.max_outputs = 2;
  dropout.needs_kernel = false;
  dropout.bytes = NoBytes;
  registry.push_back(dropout);
}

}  // namespace xflow
