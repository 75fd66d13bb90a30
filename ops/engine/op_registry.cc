// The op registry table, OpContext's parameter/input helpers and the
// helpers shared by the op families (see op_registry.h).
#include "engine/op_registry.h"

#include <algorithm>
#include <unordered_map>

#include "engine/errors.h"
#include "engine/graph.h"

namespace xflow {
namespace {

struct Registry {
  std::vector<OpDefinition> definitions;
  std::unordered_map<std::string, size_t> index_by_type;
};

const Registry& GetRegistry() {
  static const Registry registry = [] {
    Registry built;
    RegisterConvOps(built.definitions);
    RegisterMatMulOps(built.definitions);
    RegisterNormalizationOps(built.definitions);
    RegisterElementwiseOps(built.definitions);
    RegisterShapeOps(built.definitions);
    RegisterPoolOps(built.definitions);
    for (size_t i = 0; i < built.definitions.size(); ++i) {
      built.index_by_type.emplace(built.definitions[i].type, i);
    }
    return built;
  }();
  return registry;
}

}  // namespace

const OpDefinition* FindOpDefinition(const std::string& type) {
  const Registry& registry = GetRegistry();
  auto found = registry.index_by_type.find(type);
  return found == registry.index_by_type.end() ? nullptr : &registry.definitions[found->second];
}

std::vector<std::string> SupportedOpTypes() {
  std::vector<std::string> types;
  for (const OpDefinition& definition : GetRegistry().definitions) types.push_back(definition.type);
  std::sort(types.begin(), types.end());
  return types;
}

OpContext OpContext::Of(const Graph& graph, const Op& op, int32_t num_outputs) {
  std::vector<const TensorType*> inputs;
  std::vector<const IntList*> int_values;
  inputs.reserve(op.inputs.size());
  int_values.reserve(op.inputs.size());
  for (const Edge& edge : op.inputs) {
    inputs.push_back(edge.IsMissing() ? nullptr : &graph.TypeOf(edge));
    int_values.push_back(edge.IsMissing() ? nullptr : graph.IntValuesOf(edge));
  }
  return OpContext(op, std::move(inputs), std::move(int_values), num_outputs);
}

bool OpContext::HasInput(int32_t index) const {
  return index >= 0 && index < NumInputs() && inputs_[static_cast<size_t>(index)] != nullptr;
}

const TensorType& OpContext::Input(int32_t index) const {
  if (!HasInput(index)) Fail("input " + std::to_string(index) + " is required but was omitted");
  return *inputs_[static_cast<size_t>(index)];
}

const IntList* OpContext::IntValuesOrNull(int32_t index) const {
  return HasInput(index) ? int_values_[static_cast<size_t>(index)] : nullptr;
}

const IntList& OpContext::IntValues(int32_t index, const char* what) const {
  const IntList* values = IntValuesOrNull(index);
  if (values == nullptr) {
    Fail(std::string("input ") + std::to_string(index) + " (" + what +
         ") must be a constant integer tensor (an initializer or Constant with at most " +
         std::to_string(kMaxIntValues) + " elements) but is computed at run time");
  }
  return *values;
}

const ParamValue* OpContext::FindParam(const std::string& name, ParamKind kind) const {
  auto found = op_.params.find(name);
  if (found == op_.params.end()) return nullptr;
  if (KindOf(found->second) != kind) {
    Fail("parameter '" + name + "' must be " + ParamKindName(kind) + " but is " +
         ParamKindName(KindOf(found->second)));
  }
  return &found->second;
}

bool OpContext::HasParam(const std::string& name) const { return op_.params.count(name) > 0; }

int64_t OpContext::Int(const std::string& name, int64_t default_value) const {
  const ParamValue* value = FindParam(name, ParamKind::kInt);
  return value ? std::get<int64_t>(*value) : default_value;
}

double OpContext::Float(const std::string& name, double default_value) const {
  const ParamValue* value = FindParam(name, ParamKind::kFloat);
  return value ? std::get<double>(*value) : default_value;
}

IntList OpContext::Ints(const std::string& name, const IntList& default_value) const {
  const ParamValue* value = FindParam(name, ParamKind::kIntList);
  return value ? std::get<IntList>(*value) : default_value;
}

std::string OpContext::String(const std::string& name, const std::string& default_value) const {
  const ParamValue* value = FindParam(name, ParamKind::kString);
  return value ? std::get<std::string>(*value) : default_value;
}

int64_t OpContext::Axis(int64_t axis, int64_t rank, const char* what) const {
  if (axis < -rank || axis >= rank) {
    Fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank) +
         " (expected " + std::to_string(-rank) + ".." + std::to_string(rank - 1) + ")");
  }
  return axis < 0 ? axis + rank : axis;
}

void OpContext::Fail(const std::string& message) const { throw GraphError(op_.Describe() + ": " + message); }

double DefaultBytes(const OpContext& context, const std::vector<TensorType>& outputs) {
  double bytes = 0;
  for (int32_t i = 0; i < context.NumInputs(); ++i) {
    if (context.HasInput(i)) bytes += static_cast<double>(context.Input(i).NumBytes());
  }
  for (const TensorType& output : outputs) bytes += static_cast<double>(output.NumBytes());
  return bytes;
}

double ElementsOf(const std::vector<TensorType>& outputs) {
  double count = 0;
  for (const TensorType& output : outputs) count += static_cast<double>(output.NumElements());
  return count;
}

Shape BroadcastShapes(const OpContext& context, const Shape& left, const Shape& right) {
  const size_t rank = std::max(left.size(), right.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i < rank - left.size() ? 1 : left[i - (rank - left.size())];
    const int64_t b = i < rank - right.size() ? 1 : right[i - (rank - right.size())];
    if (a != b && a != 1 && b != 1) {
      context.Fail("shapes " + ShapeToString(left) + " and " + ShapeToString(right) +
                   " do not broadcast (dimension " + std::to_string(i) + ": " + std::to_string(a) + " vs " +
                   std::to_string(b) + ")");
    }
    result[i] = a == 1 ? b : a;
  }
  return result;
}

}  // namespace xflow
