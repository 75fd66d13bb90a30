// Building and querying a Graph: adding ops with validation and shape
// inference, edge lookups and constant analysis (see graph.h).
#include "engine/graph.h"

#include "engine/errors.h"
#include "engine/op_registry.h"

namespace xflow {

bool Op::IsLeaf() const { return type == kInputOp || type == kWeightOp || type == kConstantOp; }

bool Op::IsGenerated() const { return type == kConstantOp && params.count(kGeneratedParam) > 0; }

std::string Op::Describe() const { return "op '" + name + "' (" + type + ")"; }

void Graph::CheckName(const std::string& name) const {
  if (name.empty()) throw GraphError("op names must be non-empty; got an empty name for op #" + std::to_string(NumOps()));
  if (index_by_name_.count(name)) {
    throw GraphError("duplicate op name '" + name + "': op #" + std::to_string(index_by_name_.at(name)) +
                     " already has it; every op needs a unique name");
  }
}

void Graph::CheckInputs(const Op& op) const {
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const Edge& edge = op.inputs[i];
    if (edge.IsMissing()) continue;
    if (edge.op >= NumOps()) {
      throw GraphError(op.Describe() + ": input " + std::to_string(i) + " refers to op #" + std::to_string(edge.op) +
                       " but the graph has only " + std::to_string(NumOps()) +
                       " ops (inputs must be added before the ops that read them)");
    }
    const Op& producer = *ops_[static_cast<size_t>(edge.op)];
    if (edge.output < 0 || edge.output >= static_cast<int32_t>(producer.outputs.size())) {
      throw GraphError(op.Describe() + ": input " + std::to_string(i) + " reads output " +
                       std::to_string(edge.output) + " of " + producer.Describe() + ", which has " +
                       std::to_string(producer.outputs.size()) + " outputs");
    }
  }
}

void Graph::FillOutputNames(Op& op) {
  if (op.output_names.empty()) {
    for (size_t i = 0; i < op.outputs.size(); ++i) op.output_names.push_back(op.name + ":" + std::to_string(i));
  }
  if (op.output_names.size() != op.outputs.size()) {
    throw GraphError(op.Describe() + ": got " + std::to_string(op.output_names.size()) + " output names for " +
                     std::to_string(op.outputs.size()) + " outputs");
  }
}

int32_t Graph::Append(std::shared_ptr<const Op> op) {
  const int32_t index = NumOps();
  index_by_name_.emplace(op->name, index);
  ops_.push_back(std::move(op));
  return index;
}

namespace {

void CheckShape(const std::string& where, const TensorType& type) {
  for (int64_t dim : type.shape) {
    if (dim < 0) {
      throw GraphError(where + ": shape " + ShapeToString(type.shape) +
                       " has an unknown or negative dimension; every dimension must be bound to a value >= 0");
    }
  }
  if (type.dtype == DataType::kUndefined) throw GraphError(where + ": dtype is undefined");
}

}  // namespace

int32_t Graph::AddLeaf(const std::string& kind, const std::string& name, const TensorType& type,
                       const IntList* int_values) {
  CheckName(name);
  auto op = std::make_shared<Op>();
  op->type = kind;
  op->name = name;
  CheckShape(op->Describe(), type);
  op->outputs = {type};
  op->output_names = {name};
  if (int_values != nullptr && IsIntegerType(type.dtype) && type.NumElements() <= kMaxIntValues) {
    if (static_cast<int64_t>(int_values->size()) != type.NumElements()) {
      throw GraphError(op->Describe() + ": got " + std::to_string(int_values->size()) + " int values for shape " +
                       ShapeToString(type.shape) + " (" + std::to_string(type.NumElements()) + " elements)");
    }
    op->params[kIntValuesParam] = *int_values;
  }
  return Append(std::move(op));
}

int32_t Graph::AddInput(const std::string& name, const TensorType& type) { return AddLeaf(kInputOp, name, type, nullptr); }

int32_t Graph::AddWeight(const std::string& name, const TensorType& type, const IntList* int_values) {
  return AddLeaf(kWeightOp, name, type, int_values);
}

int32_t Graph::AddConstant(const std::string& name, const TensorType& type, const IntList* int_values) {
  return AddLeaf(kConstantOp, name, type, int_values);
}

int32_t Graph::AddOp(const std::string& type, const std::string& name, Params params, std::vector<Edge> inputs,
                     int32_t num_outputs, std::vector<std::string> output_names) {
  Op op;
  op.type = type;
  op.name = name;
  op.params = std::move(params);
  op.inputs = std::move(inputs);
  op.output_names = std::move(output_names);
  if (op.IsLeaf() || type == kOpaqueOp) {
    throw GraphError(op.Describe() + ": use the dedicated Input/Weight/Constant/Opaque constructors for this kind");
  }
  CheckName(name);
  CheckInputs(op);
  const OpContext context = OpContext::Of(*this, op, num_outputs);
  std::vector<const TensorType*> input_types;
  std::vector<const IntList*> int_values;
  for (int32_t i = 0; i < context.NumInputs(); ++i) {
    input_types.push_back(context.HasInput(i) ? &context.Input(i) : nullptr);
    int_values.push_back(context.IntValuesOrNull(i));
  }
  op.outputs = InferOutputs(op, std::move(input_types), std::move(int_values), num_outputs);
  FillOutputNames(op);
  return Append(std::make_shared<const Op>(std::move(op)));
}

std::vector<TensorType> Graph::InferOutputs(const Op& op, std::vector<const TensorType*> input_types,
                                            std::vector<const IntList*> int_values, int32_t num_outputs) {
  const OpDefinition* definition = FindOpDefinition(op.type);
  if (definition == nullptr) {
    std::string supported;
    for (const std::string& known : SupportedOpTypes()) supported += (supported.empty() ? "" : ", ") + known;
    throw GraphError(op.Describe() + ": unknown op type '" + op.type + "'; supported types: " + supported +
                     " (load other ops as Opaque)");
  }
  const auto input_count = static_cast<int32_t>(op.inputs.size());
  if (input_count < definition->min_inputs || input_count > definition->max_inputs) {
    throw GraphError(op.Describe() + ": expected " + std::to_string(definition->min_inputs) + ".." +
                     std::to_string(definition->max_inputs) + " inputs, got " + std::to_string(input_count));
  }
  if (num_outputs < definition->min_outputs || num_outputs > definition->max_outputs) {
    throw GraphError(op.Describe() + ": expected " + std::to_string(definition->min_outputs) + ".." +
                     std::to_string(definition->max_outputs) + " outputs, got " + std::to_string(num_outputs));
  }
  for (int32_t i = 0; i < definition->min_inputs; ++i) {
    if (input_types[static_cast<size_t>(i)] == nullptr) {
      throw GraphError(op.Describe() + ": input " + std::to_string(i) + " is required but was omitted");
    }
  }
  std::vector<TensorType> outputs =
      definition->infer(OpContext(op, std::move(input_types), std::move(int_values), num_outputs));
  if (static_cast<int32_t>(outputs.size()) != num_outputs) {
    throw GraphError(op.Describe() + ": shape inference produced " + std::to_string(outputs.size()) +
                     " outputs but the op declares " + std::to_string(num_outputs));
  }
  return outputs;
}

Op Graph::GeneratedConstant(const std::string& name, const ParamValue& values, bool scalar) {
  Op op;
  op.type = kConstantOp;
  op.name = name;
  op.params[kGeneratedParam] = int64_t{1};
  size_t count = 0;
  if (KindOf(values) == ParamKind::kIntList) {
    count = std::get<IntList>(values).size();
    op.params[kIntValuesParam] = values;
    op.outputs = {TensorType{DataType::kInt64, {}}};
  } else if (KindOf(values) == ParamKind::kFloatList) {
    count = std::get<FloatList>(values).size();
    op.params[kFloatValuesParam] = values;
    op.outputs = {TensorType{DataType::kFloat32, {}}};
  } else {
    throw GraphError(op.Describe() + ": a generated constant holds an int list or a float list, got " +
                     ParamKindName(KindOf(values)));
  }
  if (scalar && count != 1) throw GraphError(op.Describe() + ": a scalar constant needs exactly one value, got " + std::to_string(count));
  if (static_cast<int64_t>(count) > kMaxIntValues) {
    throw GraphError(op.Describe() + ": generated constants hold at most " + std::to_string(kMaxIntValues) + " values");
  }
  if (!scalar) op.outputs[0].shape = {static_cast<int64_t>(count)};
  op.output_names = {name};
  return op;
}

int32_t Graph::AddGeneratedConstant(const std::string& name, const ParamValue& values, bool scalar) {
  CheckName(name);
  return Append(std::make_shared<const Op>(GeneratedConstant(name, values, scalar)));
}

int32_t Graph::AddOpaque(const std::string& name, const std::string& onnx_op_type, const std::string& domain,
                         const std::string& node_proto, std::vector<Edge> inputs, std::vector<TensorType> output_types,
                         std::vector<std::string> output_names) {
  Op op;
  op.type = kOpaqueOp;
  op.name = name;
  op.params["onnx_op_type"] = onnx_op_type;
  op.params["onnx_domain"] = domain;
  op.params["node_proto"] = node_proto;
  op.inputs = std::move(inputs);
  op.outputs = std::move(output_types);
  op.output_names = std::move(output_names);
  CheckName(name);
  if (onnx_op_type.empty()) throw GraphError(op.Describe() + ": the ONNX op type of an opaque op must be non-empty");
  CheckInputs(op);
  for (size_t i = 0; i < op.outputs.size(); ++i) CheckShape(op.Describe() + " output " + std::to_string(i), op.outputs[i]);
  FillOutputNames(op);
  return Append(std::make_shared<const Op>(std::move(op)));
}

int32_t Graph::AddCheckedOp(Op op) {
  const std::string where = op.Describe();
  if (op.IsLeaf()) {
    if (!op.inputs.empty() || op.outputs.size() != 1) {
      throw GraphError(where + ": a leaf op needs 0 inputs and 1 output, got " + std::to_string(op.inputs.size()) +
                       " inputs and " + std::to_string(op.outputs.size()) + " outputs");
    }
    if (op.IsGenerated()) {
      const bool scalar = op.outputs[0].shape.empty();
      auto values = op.params.find(kIntValuesParam);
      if (values == op.params.end()) values = op.params.find(kFloatValuesParam);
      if (values == op.params.end() || op.params.size() != 2) {
        throw GraphError(where + ": a generated constant needs exactly 'generated' and 'int_values' or 'float_values'");
      }
      CheckName(op.name);
      Op rebuilt = GeneratedConstant(op.name, values->second, scalar);
      if (rebuilt.outputs != op.outputs) throw GraphError(where + ": stored type differs from the generated constant's values");
      return Append(std::make_shared<const Op>(std::move(rebuilt)));
    }
    const IntList* int_values = nullptr;
    auto found = op.params.find(kIntValuesParam);
    if (found != op.params.end()) {
      if (KindOf(found->second) != ParamKind::kIntList) throw GraphError(where + ": 'int_values' must be an int list");
      int_values = &std::get<IntList>(found->second);
      if (!IsIntegerType(op.outputs[0].dtype) || op.outputs[0].NumElements() > kMaxIntValues ||
          op.type == kInputOp) {
        throw GraphError(where + ": carries int_values but is not a small integer Weight/Constant");
      }
    }
    if (op.params.size() != (int_values ? 1u : 0u)) throw GraphError(where + ": unexpected parameters on a leaf op");
    const int32_t index = AddLeaf(op.type, op.name, op.outputs[0], int_values);
    if (ops_.back()->output_names != op.output_names) {
      throw GraphError(where + ": a leaf op's output must be named after the op");
    }
    return index;
  }
  if (op.type == kOpaqueOp) {
    for (const char* key : {"onnx_op_type", "onnx_domain", "node_proto"}) {
      auto found = op.params.find(key);
      if (found == op.params.end() || KindOf(found->second) != ParamKind::kString) {
        throw GraphError(where + ": opaque op lacks the string parameter '" + key + "'");
      }
    }
    if (op.params.size() != 3) throw GraphError(where + ": opaque op has unexpected parameters");
    return AddOpaque(op.name, std::get<std::string>(op.params.at("onnx_op_type")),
                     std::get<std::string>(op.params.at("onnx_domain")),
                     std::get<std::string>(op.params.at("node_proto")), std::move(op.inputs), std::move(op.outputs),
                     std::move(op.output_names));
  }
  const std::vector<TensorType> stored = op.outputs;
  const int32_t index = AddOp(op.type, op.name, std::move(op.params), std::move(op.inputs),
                              static_cast<int32_t>(stored.size()), std::move(op.output_names));
  const std::vector<TensorType>& inferred = ops_.back()->outputs;
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i] != inferred[i]) {
      throw GraphError(where + ": stored output " + std::to_string(i) + " type " + TensorTypeToString(stored[i]) +
                       " differs from the inferred " + TensorTypeToString(inferred[i]));
    }
  }
  return index;
}

void Graph::SetOutputs(std::vector<GraphOutput> outputs) {
  for (const GraphOutput& output : outputs) {
    if (output.edge.IsMissing() || output.edge.op >= NumOps() || output.edge.output < 0 ||
        output.edge.output >= static_cast<int32_t>(op(output.edge.op).outputs.size())) {
      throw GraphError("graph output '" + output.name + "' refers to op #" + std::to_string(output.edge.op) +
                       " output " + std::to_string(output.edge.output) + ", which does not exist");
    }
    if (output.name.empty()) throw GraphError("graph output names must be non-empty");
  }
  outputs_ = std::move(outputs);
}

int32_t Graph::FindOp(const std::string& name) const {
  auto found = index_by_name_.find(name);
  return found == index_by_name_.end() ? -1 : found->second;
}

const TensorType& Graph::TypeOf(const Edge& edge) const {
  if (edge.IsMissing() || edge.op >= NumOps() || edge.output < 0 ||
      edge.output >= static_cast<int32_t>(op(edge.op).outputs.size())) {
    throw GraphError("edge (op #" + std::to_string(edge.op) + ", output " + std::to_string(edge.output) +
                     ") does not exist in a graph of " + std::to_string(NumOps()) + " ops");
  }
  return op(edge.op).outputs[static_cast<size_t>(edge.output)];
}

const IntList* Graph::IntValuesOf(const Edge& edge) const {
  if (edge.IsMissing() || edge.op >= NumOps()) return nullptr;
  const Op& producer = op(edge.op);
  if (producer.type != kWeightOp && producer.type != kConstantOp) return nullptr;
  auto found = producer.params.find(kIntValuesParam);
  return found == producer.params.end() ? nullptr : &std::get<IntList>(found->second);
}

std::vector<bool> Graph::ConstantOps() const {
  std::vector<bool> constant(ops_.size(), false);
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& current = *ops_[i];
    if (current.type == kWeightOp || current.type == kConstantOp) {
      constant[i] = true;
      continue;
    }
    bool all_constant = false;
    for (const Edge& edge : current.inputs) {
      if (edge.IsMissing()) continue;
      if (!constant[static_cast<size_t>(edge.op)]) {
        all_constant = false;
        break;
      }
      all_constant = true;
    }
    constant[i] = all_constant;
  }
  return constant;
}

}  // namespace xflow
