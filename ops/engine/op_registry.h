// The op registry: what the engine knows about each modelled op type.
//
//   OpContext      an op seen together with its input types and the integer
//                  values of its constant inputs; helpers read parameters
//                  with defaults and raise errors that name the op.
//   OpDefinition   per op type: input/output arity, which inputs must be
//                  constant integers (Reshape shape, Slice starts, ...),
//                  shape inference, FLOPs, bytes moved and whether it needs a
//                  kernel at all.
//   FindOpDefinition / SupportedOpTypes   registry lookups.
//
// The op families register themselves from their own files (ops_*.cc)
// through the Register*Ops functions declared here; the registry calls each
// once, on first use, so there is no static-initialisation-order problem.
#ifndef RLGRAPH_XFLOW_ENGINE_OP_REGISTRY_H_
#define RLGRAPH_XFLOW_ENGINE_OP_REGISTRY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/types.h"

namespace xflow {

// Used by reference only. The graph includes the registry to infer op
// outputs (graph.cc), so the registry's header does not include graph.h back.
struct Op;
class Graph;

class OpContext {
 public:
  // inputs[i] / int_values[i] are null for omitted inputs / non-constant inputs.
  OpContext(const Op& op, std::vector<const TensorType*> inputs, std::vector<const IntList*> int_values,
            int32_t num_outputs)
      : op_(op), inputs_(std::move(inputs)), int_values_(std::move(int_values)), num_outputs_(num_outputs) {}

  // Builds the context of an op already in (or about to join) graph.
  static OpContext Of(const Graph& graph, const Op& op, int32_t num_outputs);

  const Op& op() const { return op_; }
  int32_t NumInputs() const { return static_cast<int32_t>(inputs_.size()); }
  int32_t NumOutputs() const { return num_outputs_; }
  bool HasInput(int32_t index) const;
  // The type of input `index`; fails when it is omitted.
  const TensorType& Input(int32_t index) const;
  // Integer values of input `index`; fails (naming `what`) when the input is
  // not a constant integer tensor.
  const IntList& IntValues(int32_t index, const char* what) const;
  const IntList* IntValuesOrNull(int32_t index) const;

  bool HasParam(const std::string& name) const;
  int64_t Int(const std::string& name, int64_t default_value) const;
  double Float(const std::string& name, double default_value) const;
  IntList Ints(const std::string& name, const IntList& default_value) const;
  std::string String(const std::string& name, const std::string& default_value) const;

  // Normalises a possibly negative axis against rank; fails when out of range.
  int64_t Axis(int64_t axis, int64_t rank, const char* what) const;
  // Throws GraphError("op 'name' (Type): message").
  [[noreturn]] void Fail(const std::string& message) const;

 private:
  const ParamValue* FindParam(const std::string& name, ParamKind kind) const;

  const Op& op_;
  std::vector<const TensorType*> inputs_;
  std::vector<const IntList*> int_values_;
  int32_t num_outputs_;
};

using InferFunction = std::vector<TensorType> (*)(const OpContext&);
using FlopsFunction = double (*)(const OpContext&, const std::vector<TensorType>& outputs);
using BytesFunction = double (*)(const OpContext&, const std::vector<TensorType>& outputs);

struct OpDefinition {
  std::string type;
  int32_t min_inputs = 1;
  int32_t max_inputs = 1;
  int32_t min_outputs = 1;
  int32_t max_outputs = 1;
  // Inputs whose integer values shape inference reads.
  std::vector<int32_t> constant_int_inputs;
  // Pure metadata ops (Reshape, Flatten, Identity, ...): no kernel, no bytes.
  bool needs_kernel = true;
  InferFunction infer = nullptr;
  FlopsFunction flops = nullptr;  // null: zero FLOPs
  BytesFunction bytes = nullptr;  // null: every input read once + every output written once
};

// Null when type is not modelled.
const OpDefinition* FindOpDefinition(const std::string& type);
// Every modelled ONNX op type (not Input/Weight/Opaque), sorted.
std::vector<std::string> SupportedOpTypes();

// Default bytes moved: all inputs read once, all outputs written once.
double DefaultBytes(const OpContext& context, const std::vector<TensorType>& outputs);
// Helpers shared by the op families.
double ElementsOf(const std::vector<TensorType>& outputs);
// numpy broadcasting of two shapes; fails naming both.
Shape BroadcastShapes(const OpContext& context, const Shape& left, const Shape& right);

// Registration hooks, one per op family file.
void RegisterConvOps(std::vector<OpDefinition>& registry);
void RegisterMatMulOps(std::vector<OpDefinition>& registry);
void RegisterNormalizationOps(std::vector<OpDefinition>& registry);
void RegisterElementwiseOps(std::vector<OpDefinition>& registry);
void RegisterShapeOps(std::vector<OpDefinition>& registry);
void RegisterPoolOps(std::vector<OpDefinition>& registry);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_OP_REGISTRY_H_
