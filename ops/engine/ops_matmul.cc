// Gemm (2-D, transA/transB, alpha/beta, optional C) and MatMul (numpy
// matmul: 1-D operands promoted, batch dimensions broadcast).
//
// FLOPs count a multiply-add as 2: Gemm 2*M*N*K plus M*N for adding C;
// MatMul 2*batch*M*N*K with batch the product of the broadcast batch dims.
#include "engine/op_registry.h"

namespace xflow {
namespace {

struct GemmSizes {
  int64_t m, n, k;
};

GemmSizes ReadGemmSizes(const OpContext& context) {
  const Shape& a = context.Input(0).shape;
  const Shape& b = context.Input(1).shape;
  if (a.size() != 2 || b.size() != 2) {
    context.Fail("A and B must be 2-D, got A " + ShapeToString(a) + " and B " + ShapeToString(b));
  }
  const bool transpose_a = context.Int("transA", 0) != 0;
  const bool transpose_b = context.Int("transB", 0) != 0;
  const int64_t m = transpose_a ? a[1] : a[0];
  const int64_t k = transpose_a ? a[0] : a[1];
  const int64_t k_of_b = transpose_b ? b[1] : b[0];
  const int64_t n = transpose_b ? b[0] : b[1];
  if (k != k_of_b) {
    context.Fail("inner dimensions differ: A " + ShapeToString(a) + (transpose_a ? " (transposed)" : "") + " and B " +
                 ShapeToString(b) + (transpose_b ? " (transposed)" : "") + " give K = " + std::to_string(k) +
                 " vs " + std::to_string(k_of_b));
  }
  return {m, n, k};
}

std::vector<TensorType> InferGemm(const OpContext& context) {
  const GemmSizes sizes = ReadGemmSizes(context);
  const Shape output = {sizes.m, sizes.n};
  if (context.HasInput(2)) {
    // C broadcasts one way only: into [M, N].
    if (BroadcastShapes(context, context.Input(2).shape, output) != output) {
      context.Fail("C " + ShapeToString(context.Input(2).shape) + " must broadcast to " + ShapeToString(output));
    }
  }
  return {TensorType{context.Input(0).dtype, output}};
}

double GemmFlops(const OpContext& context, const std::vector<TensorType>&) {
  const GemmSizes sizes = ReadGemmSizes(context);
  const double products = static_cast<double>(sizes.m) * static_cast<double>(sizes.n);
  return 2 * products * static_cast<double>(sizes.k) + (context.HasInput(2) ? products : 0);
}

std::vector<TensorType> InferMatMul(const OpContext& context) {
  Shape a = context.Input(0).shape;
  Shape b = context.Input(1).shape;
  if (a.empty() || b.empty()) context.Fail("operands must be at least 1-D, got " + ShapeToString(a) + " and " + ShapeToString(b));
  const bool vector_a = a.size() == 1;
  const bool vector_b = b.size() == 1;
  if (vector_a) a.insert(a.begin(), 1);
  if (vector_b) b.push_back(1);
  const int64_t k = a[a.size() - 1];
  if (k != b[b.size() - 2]) {
    context.Fail("inner dimensions differ: " + ShapeToString(context.Input(0).shape) + " x " +
                 ShapeToString(context.Input(1).shape));
  }
  Shape output = BroadcastShapes(context, Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!vector_a) output.push_back(a[a.size() - 2]);
  if (!vector_b) output.push_back(b[b.size() - 1]);
  return {TensorType{context.Input(0).dtype, output}};
}

double MatMulFlops(const OpContext& context, const std::vector<TensorType>& outputs) {
  // Every output element is a dot product of length K.
  const Shape& a = context.Input(0).shape;
  const auto k = static_cast<double>(a[a.size() - 1]);
  return 2 * static_cast<double>(outputs[0].NumElements()) * k;
}

}  // namespace

void RegisterMatMulOps(std::vector<OpDefinition>& registry) {
  OpDefinition gemm;
  gemm.type = "Gemm";
  gemm.min_inputs = 2;
  gemm.max_inputs = 3;
  gemm.infer = InferGemm;
  gemm.flops = GemmFlops;
  registry.push_back(gemm);

  OpDefinition matmul;
  matmul.type = "MatMul";
  matmul.min_inputs = 2;
  matmul.max_inputs = 2;
  matmul.infer = InferMatMul;
  matmul.flops = MatMulFlops;
  registry.push_back(matmul);
}

}  // namespace xflow
