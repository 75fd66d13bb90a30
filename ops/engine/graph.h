// The graph IR: ops, edges and the Graph that holds them.
//
//   Edge        (producer op index, output index); op == -1 marks an omitted
//               optional input (ONNX's empty input name).
//   Op          one operator: type, unique name, typed parameters, input
//               edges, output tensor types and output tensor names.
//   GraphOutput a graph output: the edge that produces it and its name.
//   Graph       ops in topological order (every input edge points to an
//               earlier op) plus the ordered graph outputs.
//
// Ops are held as shared_ptr<const Op>: copying a Graph copies pointers, not
// ops, so a rewrite ("apply") can copy a graph and replace only the ops it
// changes while sharing the rest. Once built, an op is never mutated.
//
// Special op kinds (constants below): Input (a graph input), Weight (an ONNX
// initializer; its data lives on the Python side), Constant (an ONNX Constant
// node, data also on the Python side) and Opaque (an ONNX op the engine does
// not model; it keeps its ONNX node and inferred output types and is carried
// through untouched). Weight and Constant ops with an integer dtype and at
// most kMaxIntValues elements carry their values as the int-list parameter
// "int_values", so shape inference can read Reshape shapes, Slice starts etc.
//
// Generated constants: a rewrite that needs a small new constant (Split
// sizes, a Reshape shape, an epsilon) adds a Constant leaf carrying the
// parameter "generated" = 1 and its values as "int_values" (int64) or
// "float_values" (float32). Its data lives in the graph, not in the Python
// weight store; it hashes by value, not by its (generated) name, so equal
// graphs reached along different rewrite paths hash equal.
#ifndef RLGRAPH_XFLOW_ENGINE_GRAPH_H_
#define RLGRAPH_XFLOW_ENGINE_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/types.h"

namespace xflow {

inline constexpr const char* kInputOp = "Input";
inline constexpr const char* kWeightOp = "Weight";
inline constexpr const char* kConstantOp = "Constant";
inline constexpr const char* kOpaqueOp = "Opaque";
inline constexpr const char* kIntValuesParam = "int_values";
inline constexpr int64_t kMaxIntValues = 64;
inline constexpr const char* kFloatValuesParam = "float_values";
inline constexpr const char* kGeneratedParam = "generated";

struct Edge {
  int32_t op = -1;
  int32_t output = 0;

  bool IsMissing() const { return op < 0; }
  bool operator==(const Edge& other) const { return op == other.op && output == other.output; }
};

struct Op {
  std::string type;
  std::string name;
  Params params;
  std::vector<Edge> inputs;
  std::vector<TensorType> outputs;
  std::vector<std::string> output_names;

  bool IsLeaf() const;  // Input, Weight or Constant: no inputs, types given.
  bool IsGenerated() const;  // a Constant made by a rewrite (see above)
  // "op 'conv1' (Conv)" — the prefix of every error about this op.
  std::string Describe() const;
};

struct GraphOutput {
  Edge edge;
  std::string name;
};

class Graph {
 public:
  Graph() = default;

  // Adds a graph input. Returns the new op's index.
  int32_t AddInput(const std::string& name, const TensorType& type);
  // Adds an initializer; int_values (may be null) are kept when the dtype is
  // an integer type and the weight has at most kMaxIntValues elements.
  int32_t AddWeight(const std::string& name, const TensorType& type, const IntList* int_values);
  // Adds an ONNX Constant node's output; same int_values rule as AddWeight.
  int32_t AddConstant(const std::string& name, const TensorType& type, const IntList* int_values);
  // Adds a modelled op; checks its inputs and parameters and infers its
  // output types with the op registry. output_names may be empty (names are
  // then generated as "<op name>:<index>").
  int32_t AddOp(const std::string& type, const std::string& name, Params params, std::vector<Edge> inputs,
                int32_t num_outputs, std::vector<std::string> output_names);
  // Adds an op the engine does not model. onnx_op_type/domain describe it;
  // node_proto holds its ONNX NodeProto (attributes only: names stripped) so
  // it can be exported unchanged; output_types come from ONNX inference.
  int32_t AddOpaque(const std::string& name, const std::string& onnx_op_type, const std::string& domain,
                    const std::string& node_proto, std::vector<Edge> inputs, std::vector<TensorType> output_types,
                    std::vector<std::string> output_names);
  // Adds an already-complete op (used by deserialization); the op is checked
  // like AddOp/AddOpaque would and its stored output types must match the
  // inferred ones.
  int32_t AddCheckedOp(Op op);
  // Adds a generated Constant (see above): values must be an int list
  // (-> int64) or a float list (-> float32); scalar gives shape [] (one
  // value) instead of [n].
  int32_t AddGeneratedConstant(const std::string& name, const ParamValue& values, bool scalar);
  void SetOutputs(std::vector<GraphOutput> outputs);
  // Appends an op without any check. Only for the rewriter, which builds
  // ops that were checked against an equivalent graph: inputs must point to
  // earlier ops, types must be right and the name must be new.
  int32_t AppendTrusted(std::shared_ptr<const Op> op) { return Append(std::move(op)); }
  // Replaces the graph outputs without checks (the rewriter's counterpart).
  void SetOutputsTrusted(std::vector<GraphOutput> outputs) { outputs_ = std::move(outputs); }

  // Checks an op against its definition (known type, input and output
  // counts, required inputs present) and infers its output types from the
  // given input types and constant int values (null where unknown). Used by
  // AddOp and by the rewriter for ops not yet in a graph.
  static std::vector<TensorType> InferOutputs(const Op& op, std::vector<const TensorType*> input_types,
                                              std::vector<const IntList*> int_values, int32_t num_outputs);
  // The Op a generated constant would be (AddGeneratedConstant's checks).
  static Op GeneratedConstant(const std::string& name, const ParamValue& values, bool scalar);

  int32_t NumOps() const { return static_cast<int32_t>(ops_.size()); }
  const Op& op(int32_t index) const { return *ops_[static_cast<size_t>(index)]; }
  const std::shared_ptr<const Op>& shared_op(int32_t index) const { return ops_[static_cast<size_t>(index)]; }
  const std::vector<GraphOutput>& outputs() const { return outputs_; }
  // Index of the op with this name, or -1.
  int32_t FindOp(const std::string& name) const;
  // The type of the tensor an edge carries; throws GraphError when the edge
  // does not exist.
  const TensorType& TypeOf(const Edge& edge) const;
  // The integer values an edge carries when its producer is a Weight or
  // Constant holding int_values; null otherwise.
  const IntList* IntValuesOf(const Edge& edge) const;
  // True for Weight/Constant ops and ops all of whose inputs are constant
  // (they can be folded when the graph is exported or compiled).
  std::vector<bool> ConstantOps() const;

  // Canonical content hash (hash.cc).
  uint64_t Hash() const;
  // Per-op content hashes in op order (hash.cc).
  std::vector<uint64_t> OpHashes() const;
  // Compact binary form and back (serialize.cc).
  std::string ToBytes() const;
  static Graph FromBytes(const std::string& bytes);

 private:
  int32_t AddLeaf(const std::string& kind, const std::string& name, const TensorType& type,
                  const IntList* int_values);
  int32_t Append(std::shared_ptr<const Op> op);
  void CheckName(const std::string& name) const;
  void CheckInputs(const Op& op) const;
  static void FillOutputNames(Op& op);

  std::vector<std::shared_ptr<const Op>> ops_;
  std::vector<GraphOutput> outputs_;
  std::unordered_map<std::string, int32_t> index_by_name_;
};

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_GRAPH_H_
