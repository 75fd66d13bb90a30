// The matcher, rewrite planning, location listing and apply (see
// substitution.h for the validity, order and dedup rules).
#include "engine/substitution.h"

#include <algorithm>
#include <cstdio>
#include <queue>
#include <unordered_set>

#include "engine/errors.h"
#include "engine/hash.h"
#include "engine/op_registry.h"

namespace xflow {

// ------------------------------------------------------------------ GraphIndex

GraphIndex::GraphIndex(const Graph& graph) : graph_(graph) {
  const auto count = static_cast<size_t>(graph.NumOps());
  consumer_offsets_.assign(count + 1, 0);
  use_count_.assign(count, 0);
  for (int32_t i = 0; i < graph.NumOps(); ++i) {
    const Op& op = graph.op(i);
    ops_by_type_[op.type].push_back(i);
    for (const Edge& edge : op.inputs) {
      if (!edge.IsMissing()) ++consumer_offsets_[static_cast<size_t>(edge.op) + 1];
    }
  }
  for (size_t i = 0; i < count; ++i) {
    use_count_[i] = consumer_offsets_[i + 1];
    consumer_offsets_[i + 1] += consumer_offsets_[i];
  }
  consumers_.resize(static_cast<size_t>(consumer_offsets_[count]));
  std::vector<int32_t> filled(consumer_offsets_.begin(), consumer_offsets_.end() - 1);
  for (int32_t i = 0; i < graph.NumOps(); ++i) {
    const Op& op = graph.op(i);
    for (size_t position = 0; position < op.inputs.size(); ++position) {
      const Edge& edge = op.inputs[position];
      if (edge.IsMissing()) continue;
      consumers_[static_cast<size_t>(filled[static_cast<size_t>(edge.op)]++)] = {i, static_cast<int32_t>(position)};
    }
  }
  for (const GraphOutput& output : graph.outputs()) ++use_count_[static_cast<size_t>(output.edge.op)];
  constant_ = graph.ConstantOps();
  op_hashes_ = graph.OpHashes();
}

const std::vector<int32_t>& GraphIndex::OpsOfType(const std::string& type) const {
  static const std::vector<int32_t> kNone;
  auto found = ops_by_type_.find(type);
  return found == ops_by_type_.end() ? kNone : found->second;
}

bool GraphIndex::IsGraphOutput(const Edge& edge) const {
  for (const GraphOutput& output : graph_.outputs()) {
    if (output.edge == edge) return true;
  }
  return false;
}

namespace {

// ------------------------------------------------------------------ scope

// Rule expressions evaluated on a (complete) match.
class MatchScope : public ExpressionScope {
 public:
  MatchScope(const Rule& rule, const GraphIndex& index, const std::vector<int32_t>& ops, const std::vector<Edge>& variables)
      : rule_(rule), index_(index), ops_(ops), variables_(variables) {}

  Value Param(const std::string& op, const std::string& param) const override {
    const Params& params = ParamsOf(op);
    auto found = params.find(param);
    return found == params.end() ? Value::Absent() : Value::FromParam(found->second);
  }
  const Params& ParamsOf(const std::string& op) const override {
    const int32_t source = rule_.FindSourceOp(op);
    if (source < 0) throw RuleError(rule_.Where() + ": '" + op + "' is not a source op");
    return index_.graph().op(ops_[static_cast<size_t>(source)]).params;
  }
  const TensorType& Type(const TensorName& tensor) const override { return index_.graph().TypeOf(EdgeOf(tensor)); }
  bool IsConstant(const TensorName& tensor) const override {
    return index_.constant()[static_cast<size_t>(EdgeOf(tensor).op)];
  }
  const IntList* IntValues(const TensorName& tensor) const override { return index_.graph().IntValuesOf(EdgeOf(tensor)); }

 private:
  Edge EdgeOf(const TensorName& tensor) const {
    const int32_t source = rule_.FindSourceOp(tensor.name);
    if (source >= 0) {
      const Op& op = index_.graph().op(ops_[static_cast<size_t>(source)]);
      if (tensor.output < 0 || tensor.output >= static_cast<int32_t>(op.outputs.size())) {
        throw RuleError(rule_.Where() + ": '" + tensor.name + ":" + std::to_string(tensor.output) + "' does not exist");
      }
      return Edge{ops_[static_cast<size_t>(source)], tensor.output};
    }
    const int32_t variable = rule_.FindVariable(tensor.name);
    if (variable < 0) throw RuleError(rule_.Where() + ": unknown tensor '" + tensor.name + "'");
    return variables_[static_cast<size_t>(variable)];
  }

  const Rule& rule_;
  const GraphIndex& index_;
  const std::vector<int32_t>& ops_;
  const std::vector<Edge>& variables_;
};

bool Contains(const std::vector<int32_t>& items, int32_t value) {
  return std::find(items.begin(), items.end(), value) != items.end();
}

std::string HexSuffix(uint64_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "%06llx", static_cast<unsigned long long>(value & 0xffffff));
  return buffer;
}

// ------------------------------------------------------------------ planning

// The rule's mapping of source output `output` of source op `source_op`, or
// null when the rewrite leaves that tensor without a replacement.
const OutputMapping* FindMapping(const Rule& rule, int32_t source_op, int32_t output) {
  for (const OutputMapping& mapping : rule.maps) {
    if (mapping.source_op == source_op && mapping.source_output == output) return &mapping;
  }
  return nullptr;
}

// A variable bound to a matched op's output would be removed together with
// the op that produces it.
bool VariablesComeFromOutside(const Match& match) {
  for (const Edge& variable : match.variables) {
    if (Contains(match.ops, variable.op)) return false;
  }
  return true;
}

// Readers outside the pattern (other ops, graph outputs) are rerouted to the
// mapped tensors, so an unmapped output they read would leave them dangling.
bool OutsideUsesAreMapped(const Rule& rule, const GraphIndex& index, const std::vector<int32_t>& matched) {
  const Graph& graph = index.graph();
  for (size_t k = 0; k < matched.size(); ++k) {
    const auto source_op = static_cast<int32_t>(k);
    for (const auto& [consumer, position] : index.Consumers(matched[k])) {
      if (Contains(matched, consumer)) continue;
      const int32_t output = graph.op(consumer).inputs[static_cast<size_t>(position)].output;
      if (FindMapping(rule, source_op, output) == nullptr) return false;
    }
    for (const GraphOutput& output : graph.outputs()) {
      if (output.edge.op == matched[k] && FindMapping(rule, source_op, output.edge.output) == nullptr) return false;
    }
  }
  return true;
}

// True when some input variable is computed, directly or not, from a matched
// op. Ops are topologically sorted, so the walk stops at first_matched.
bool VariableDependsOnMatch(const Graph& graph, const Match& match, int32_t first_matched) {
  std::vector<int32_t> stack;
  std::unordered_set<int32_t> visited;
  for (const Edge& variable : match.variables) {
    if (variable.op > first_matched) stack.push_back(variable.op);
  }
  while (!stack.empty()) {
    const int32_t current = stack.back();
    stack.pop_back();
    if (Contains(match.ops, current)) return true;
    if (!visited.insert(current).second) continue;
    for (const Edge& edge : graph.op(current).inputs) {
      if (!edge.IsMissing() && edge.op >= first_matched) stack.push_back(edge.op);
    }
  }
  return false;
}

// True when no input variable of `match` would, after the rewrite, depend on
// a target op that reads it. A variable computed from matched outputs reads,
// after the rewrite, the target tensors those outputs are mapped to; a cycle
// closes exactly when such a target op reads the variable itself (within the
// target). A matched output mapped to another variable is refused when that
// variable also depends on the match (rare; not worth chasing further).
bool VariablesAvoidCycles(const Rule& rule, const Graph& graph, const Match& match, int32_t first_matched) {
  const std::vector<int32_t>& matched = match.ops;
  // The matched outputs each variable reads through outside ops.
  std::vector<std::vector<Edge>> reached(match.variables.size());
  for (size_t variable = 0; variable < match.variables.size(); ++variable) {
    const int32_t start = match.variables[variable].op;
    if (start <= first_matched) continue;
    std::vector<int32_t> stack{start};
    std::unordered_set<int32_t> visited;
    while (!stack.empty()) {
      const int32_t current = stack.back();
      stack.pop_back();
      if (!visited.insert(current).second) continue;
      for (const Edge& edge : graph.op(current).inputs) {
        if (edge.IsMissing() || edge.op < first_matched) continue;
        if (Contains(matched, edge.op)) {
          reached[variable].push_back(edge);
        } else {
          stack.push_back(edge.op);
        }
      }
    }
  }
  auto local_of = [&](int32_t graph_op) {
    return static_cast<int32_t>(std::find(matched.begin(), matched.end(), graph_op) - matched.begin());
  };
  for (size_t variable = 0; variable < match.variables.size(); ++variable) {
    if (reached[variable].empty()) continue;
    // reads[t]: target op t reads this variable, directly or through earlier target ops.
    std::vector<bool> reads(rule.target.size(), false);
    for (size_t t = 0; t < rule.target.size(); ++t) {
      for (const TargetInput& input : rule.target[t].inputs) {
        if ((input.kind == TargetInput::Kind::kVariable && input.index == static_cast<int32_t>(variable)) ||
            (input.kind == TargetInput::Kind::kTargetOp && reads[static_cast<size_t>(input.index)])) {
          reads[t] = true;
        }
      }
    }
    for (const Edge& edge : reached[variable]) {
      const OutputMapping* mapping = FindMapping(rule, local_of(edge.op), edge.output);
      if (mapping == nullptr) return false;
      if (mapping->target.kind == TargetInput::Kind::kTargetOp) {
        if (reads[static_cast<size_t>(mapping->target.index)]) return false;
      } else if (mapping->target.kind == TargetInput::Kind::kVariable) {
        const auto other = static_cast<size_t>(mapping->target.index);
        if (other == variable || !reached[other].empty()) return false;
      }
    }
  }
  return true;
}

// A variable computed downstream of a matched op can close a cycle: the
// rewrite reroutes that op's outside readers to their mapped target
// tensors. The quick walk settles the usual case (no variable depends on a
// matched op); when one does, the location is still valid if no mapped
// target tensor on that dependency reads the variable (GELU's
// Mul(x, 1 + erf(Div(x, s))) next to the Div it depends on).
bool RewriteStaysAcyclic(const Rule& rule, const Graph& graph, const Match& match) {
  const int32_t first_matched = *std::min_element(match.ops.begin(), match.ops.end());
  return !VariableDependsOnMatch(graph, match, first_matched) || VariablesAvoidCycles(rule, graph, match, first_matched);
}

// The canonical dedup key (see substitution.h): content hashes of the
// match, which cost O(match) where hashing the rewritten graph costs O(graph).
uint64_t MatchKey(const Rule& rule, int32_t xfer, const GraphIndex& index, const Match& match) {
  uint64_t key = CombineHash(HashString(rule.id), static_cast<uint64_t>(xfer));
  for (int32_t op : match.ops) key = CombineHash(key, index.op_hashes()[static_cast<size_t>(op)]);
  for (const Edge& variable : match.variables) {
    key = CombineHash(CombineHash(key, index.op_hashes()[static_cast<size_t>(variable.op)]), static_cast<uint64_t>(variable.output));
  }
  return key;
}

// A generated constant holds int64 or float32 values only (graph.h), so the
// expression's value is checked and widened here, naming the rule on error.
ParamValue GeneratedConstantValues(const Rule& rule, TargetInput::Kind kind, const Value& value) {
  if (kind == TargetInput::Kind::kIntConstant) {
    if (value.kind == Value::Kind::kInt) return IntList{value.integer};
    if (value.kind == Value::Kind::kIntList) return value.ints;
    throw RuleError(rule.Where() + ": int64(...) needs an int or int list, got " + value.KindName());
  }
  if (value.kind == Value::Kind::kIntList) return FloatList(value.ints.begin(), value.ints.end());
  if (value.kind == Value::Kind::kFloatList) return value.floats;
  if (value.kind == Value::Kind::kInt) return FloatList{static_cast<double>(value.integer)};
  if (value.kind == Value::Kind::kFloat) return FloatList{value.number};
  throw RuleError(rule.Where() + ": float32(...) needs a number or list, got " + value.KindName());
}

// Builds a rule's target ops for one match into new_ops, in target order,
// each with its parameters, its inputs and shape-inferred outputs. Inputs
// carry their types, int values and constness because the new ops are not
// in a graph yet: inference, pricing and hashing read them from the NewOp.
class TargetBuilder {
 public:
  TargetBuilder(const Rule& rule, const GraphIndex& index, const Match& match, std::vector<NewOp>& new_ops)
      : rule_(rule), index_(index), graph_(index.graph()), match_(match), scope_(rule, index, match.ops, match.variables),
        new_ops_(new_ops), target_index_(rule.target.size(), -1) {}

  // False when the target does not type-check on this match.
  bool BuildAll() {
    try {
      // Room for every new op up front: regrowing the vector moved the NewOps built so far.
      new_ops_.reserve(rule_.target.size() + CountGeneratedConstants());
      for (size_t t = 0; t < rule_.target.size(); ++t) {
        NewOp built = Build(rule_.target[t]);
        target_index_[t] = static_cast<int32_t>(new_ops_.size());
        new_ops_.push_back(std::move(built));
      }
    } catch (const GraphError&) {
      // A shape the constraints did not rule out: not a location.
      return false;
    }
    return true;
  }

  // The new_ops index of each target op.
  const std::vector<int32_t>& target_index() const { return target_index_; }

 private:
  size_t CountGeneratedConstants() const {
    size_t constants = 0;
    for (const TargetOp& target : rule_.target) {
      for (const TargetInput& input : target.inputs) {
        if (input.kind != TargetInput::Kind::kVariable && input.kind != TargetInput::Kind::kTargetOp) ++constants;
      }
    }
    return constants;
  }

  NewOp Build(const TargetOp& target) {
    NewOp built;
    built.inputs.reserve(target.inputs.size());
    built.input_types.reserve(target.inputs.size());
    built.input_int_values.reserve(target.inputs.size());
    built.input_constant.reserve(target.inputs.size());
    built.op.type = target.type;
    built.name_base = target.name_base;
    SetParams(target, built.op.params);
    for (const TargetInput& input : target.inputs) AddInput(input, built);
    built.op.inputs.assign(built.inputs.size(), Edge{0, 0});
    built.op.outputs = InferOutputs(built, target.num_outputs);
    built.constant = !built.inputs.empty() &&
                     std::all_of(built.input_constant.begin(), built.input_constant.end(), [](bool value) { return value; });
    return built;
  }

  // Copying a source op's parameters first lets a rule state only what it changes.
  void SetParams(const TargetOp& target, Params& params) const {
    if (target.copy_from >= 0) params = graph_.op(match_.ops[static_cast<size_t>(target.copy_from)]).params;
    for (const TargetParam& param : target.params) {
      if (param.remove) {
        params.erase(param.key);
        continue;
      }
      const Value value = Evaluate(param.value, scope_);
      if (value.IsAbsent()) {
        params.erase(param.key);
      } else if (value.kind == Value::Kind::kBool || value.kind == Value::Kind::kAbsent) {
        value.ToParam(rule_.Where() + " target op '" + target.name + "' parameter '" + param.key + "'");  // throws the RuleError
      } else {
        params[param.key] = value.ToParam("");
      }
    }
  }

  void AddInput(const TargetInput& input, NewOp& consumer) {
    if (input.kind == TargetInput::Kind::kVariable) {
      AddGraphInput(match_.variables[static_cast<size_t>(input.index)], consumer);
      return;
    }
    const int32_t local = input.kind == TargetInput::Kind::kTargetOp ? target_index_[static_cast<size_t>(input.index)]
                                                                      : AddGeneratedConstant(input);
    AddNewOpInput(local, input.output, consumer);
  }

  void AddGraphInput(const Edge& edge, NewOp& consumer) const {
    consumer.input_types.push_back(graph_.TypeOf(edge));
    const IntList* values = graph_.IntValuesOf(edge);
    consumer.input_int_values.push_back(values ? std::optional<IntList>(*values) : std::nullopt);
    consumer.input_constant.push_back(index_.constant()[static_cast<size_t>(edge.op)]);
    consumer.inputs.push_back(RewriteInput{false, edge.op, edge.output});
  }

  // Only generated constants carry int values among new ops: shape
  // inference never sees the values of a computed tensor.
  void AddNewOpInput(int32_t local, int32_t output, NewOp& consumer) const {
    const NewOp& producer = new_ops_[static_cast<size_t>(local)];
    consumer.input_types.push_back(producer.op.outputs[static_cast<size_t>(output)]);
    auto values = producer.op.params.find(kIntValuesParam);
    consumer.input_int_values.push_back(
        producer.op.IsGenerated() && values != producer.op.params.end() ? std::optional<IntList>(std::get<IntList>(values->second))
                                                                         : std::nullopt);
    consumer.input_constant.push_back(producer.constant);
    consumer.inputs.push_back(RewriteInput{true, local, output});
  }

  // Returns the constant's index in new_ops; it precedes the op reading it.
  int32_t AddGeneratedConstant(const TargetInput& input) {
    const Value value = Evaluate(input.value, scope_);
    NewOp constant;
    constant.op = Graph::GeneratedConstant("", GeneratedConstantValues(rule_, input.kind, value), !value.IsList());
    constant.name_base = rule_.constant_name_base;
    constant.constant = true;
    new_ops_.push_back(std::move(constant));
    return static_cast<int32_t>(new_ops_.size()) - 1;
  }

  // Throws GraphError when the inputs do not fit the op.
  static std::vector<TensorType> InferOutputs(const NewOp& built, int32_t num_outputs) {
    std::vector<const TensorType*> types;
    std::vector<const IntList*> int_values;
    types.reserve(built.inputs.size());
    int_values.reserve(built.inputs.size());
    for (size_t i = 0; i < built.inputs.size(); ++i) {
      types.push_back(&built.input_types[i]);
      int_values.push_back(built.input_int_values[i] ? &*built.input_int_values[i] : nullptr);
    }
    return Graph::InferOutputs(built.op, std::move(types), std::move(int_values), num_outputs);
  }

  const Rule& rule_;
  const GraphIndex& index_;
  const Graph& graph_;
  const Match& match_;
  const MatchScope scope_;
  std::vector<NewOp>& new_ops_;
  std::vector<int32_t> target_index_;
};

// Pairs each mapped source tensor with its replacement. Their types must
// agree: the readers left untouched were typed against the old tensor.
bool AddReplacements(const Rule& rule, const Graph& graph, const Match& match, const std::vector<int32_t>& target_index,
                     Rewrite& rewrite) {
  for (const OutputMapping& mapping : rule.maps) {
    const Edge old_edge{match.ops[static_cast<size_t>(mapping.source_op)], mapping.source_output};
    RewriteInput replacement;
    const TensorType* type = nullptr;
    if (mapping.target.kind == TargetInput::Kind::kVariable) {
      const Edge edge = match.variables[static_cast<size_t>(mapping.target.index)];
      replacement = RewriteInput{false, edge.op, edge.output};
      type = &graph.TypeOf(edge);
    } else {
      const int32_t local = target_index[static_cast<size_t>(mapping.target.index)];
      replacement = RewriteInput{true, local, mapping.target.output};
      type = &rewrite.new_ops[static_cast<size_t>(local)].op.outputs[static_cast<size_t>(mapping.target.output)];
    }
    if (*type != graph.TypeOf(old_edge)) return false;
    rewrite.replacements.emplace_back(old_edge, replacement);
  }
  return true;
}

// The matched ops plus whatever only they (transitively) used, sorted; the
// rewrite's own reads of graph edges keep those producers alive.
std::vector<int32_t> RemovedOps(const GraphIndex& index, const std::vector<int32_t>& matched, const Rewrite& rewrite) {
  const Graph& graph = index.graph();
  // Remaining uses of the ops this touches: a handful, so a flat list.
  std::vector<std::pair<int32_t, int32_t>> uses;
  uses.reserve(16);
  auto use_of = [&](int32_t op) -> int32_t& {
    for (auto& [used_op, remaining] : uses) {
      if (used_op == op) return remaining;
    }
    uses.emplace_back(op, index.UseCount(op));
    return uses.back().second;
  };
  for (const NewOp& built : rewrite.new_ops) {
    for (const RewriteInput& input : built.inputs) {
      if (!input.is_new) ++use_of(input.index);
    }
  }
  for (const auto& [old_edge, replacement] : rewrite.replacements) {
    if (!replacement.is_new) ++use_of(replacement.index);
  }
  std::vector<int32_t> pending(matched.begin(), matched.end());
  std::vector<int32_t> removed;
  while (!pending.empty()) {
    const int32_t current = pending.back();
    pending.pop_back();
    removed.push_back(current);
    for (const Edge& edge : graph.op(current).inputs) {
      if (edge.IsMissing() || Contains(matched, edge.op)) continue;
      int32_t& remaining = use_of(edge.op);
      if (--remaining == 0 && graph.op(edge.op).type != kInputOp) pending.push_back(edge.op);
    }
  }
  std::sort(removed.begin(), removed.end());
  removed.erase(std::unique(removed.begin(), removed.end()), removed.end());
  return removed;
}

// Turns a complete, constraint-satisfying match into a Rewrite, or returns
// nothing when the match is not a valid location.
std::optional<Rewrite> PlanRewrite(const Rule& rule, int32_t xfer, const GraphIndex& index, Match match) {
  if (!VariablesComeFromOutside(match) || !OutsideUsesAreMapped(rule, index, match.ops) ||
      !RewriteStaysAcyclic(rule, index.graph(), match)) {
    return std::nullopt;
  }
  Rewrite rewrite;
  rewrite.xfer = xfer;
  rewrite.key = MatchKey(rule, xfer, index, match);
  TargetBuilder targets(rule, index, match, rewrite.new_ops);
  if (!targets.BuildAll()) return std::nullopt;
  if (!AddReplacements(rule, index.graph(), match, targets.target_index(), rewrite)) return std::nullopt;
  rewrite.removed = RemovedOps(index, match.ops, rewrite);
  rewrite.match = std::move(match);
  return rewrite;
}

// ------------------------------------------------------------------ matching

class Matcher {
 public:
  Matcher(const Rule& rule, int32_t xfer, const GraphIndex& index, int32_t limit, std::vector<Rewrite>& results)
      : rule_(rule), xfer_(xfer), index_(index), graph_(index.graph()), limit_(limit), results_(results),
        assigned_(rule.source.size(), -1), swapped_(rule.source.size(), false),
        variables_(rule.variables.size(), Edge{-1, 0}) {}

  void Run() { Place(0); }

 private:
  bool Done() const { return limit_ >= 0 && static_cast<int32_t>(results_.size()) >= limit_; }

  // Graph input position read by pattern input `input` of placed op `k`.
  size_t Position(int32_t k, size_t input) const { return swapped_[static_cast<size_t>(k)] ? 1 - input : input; }

  void Place(size_t depth) {
    if (Done()) return;
    if (depth == rule_.match_order.size()) {
      Complete();
      return;
    }
    const int32_t k = rule_.match_order[depth];
    const SourceOp& pattern = rule_.source[static_cast<size_t>(k)];
    // Producer of a placed op's input: a single candidate.
    for (size_t p = 0; p < rule_.source.size(); ++p) {
      if (assigned_[p] < 0) continue;
      const SourceOp& consumer = rule_.source[p];
      for (size_t i = 0; i < consumer.inputs.size(); ++i) {
        if (consumer.inputs[i].op != k) continue;
        const Edge& edge = graph_.op(assigned_[p]).inputs[Position(static_cast<int32_t>(p), i)];
        if (edge.IsMissing() || edge.output != consumer.inputs[i].output) return;
        Try(depth, k, edge.op);
        return;
      }
    }
    // Consumer of a placed op's output or of a bound variable.
    for (const SourceInput& input : pattern.inputs) {
      int32_t producer = -1;
      if (input.op >= 0 && assigned_[static_cast<size_t>(input.op)] >= 0) producer = assigned_[static_cast<size_t>(input.op)];
      if (input.op < 0 && variables_[static_cast<size_t>(input.variable)].op >= 0) producer = variables_[static_cast<size_t>(input.variable)].op;
      if (producer < 0) continue;
      int32_t previous = -1;
      for (const auto& [consumer, position] : index_.Consumers(producer)) {
        // An op reading the producer twice is listed twice; try it once.
        if (consumer == previous) continue;
        previous = consumer;
        Try(depth, k, consumer);
        if (Done()) return;
      }
      return;
    }
    for (int32_t candidate : index_.OpsOfType(pattern.type)) {
      Try(depth, k, candidate);
      if (Done()) return;
    }
  }

  void Try(size_t depth, int32_t k, int32_t candidate) {
    const SourceOp& pattern = rule_.source[static_cast<size_t>(k)];
    const Op& op = graph_.op(candidate);
    if (op.type != pattern.type || op.inputs.size() != pattern.inputs.size() ||
        static_cast<int32_t>(op.outputs.size()) != pattern.num_outputs || Contains(assigned_, candidate)) {
      return;
    }
    for (const ParamRequirement& requirement : pattern.params) {
      auto found = op.params.find(requirement.key);
      if (requirement.absent ? found != op.params.end() : (found == op.params.end() || !(found->second == requirement.value))) return;
    }
    const int orders = pattern.commutative && !(op.inputs[0] == op.inputs[1]) ? 2 : 1;
    for (int order = 0; order < orders; ++order) {
      assigned_[static_cast<size_t>(k)] = candidate;
      swapped_[static_cast<size_t>(k)] = order == 1;
      const size_t bound_before = newly_bound_.size();
      if (Consistent(k, newly_bound_)) Place(depth + 1);
      for (size_t b = bound_before; b < newly_bound_.size(); ++b) variables_[static_cast<size_t>(newly_bound_[b])] = Edge{-1, 0};
      newly_bound_.resize(bound_before);
      assigned_[static_cast<size_t>(k)] = -1;
      swapped_[static_cast<size_t>(k)] = false;
      if (Done()) return;
    }
  }

  // Checks op k's edges against placed ops and bound variables, binding new
  // variables (recorded in newly_bound so the caller can undo them).
  bool Consistent(int32_t k, std::vector<int32_t>& newly_bound) {
    const SourceOp& pattern = rule_.source[static_cast<size_t>(k)];
    const int32_t candidate = assigned_[static_cast<size_t>(k)];
    const Op& op = graph_.op(candidate);
    for (size_t i = 0; i < pattern.inputs.size(); ++i) {
      const SourceInput& input = pattern.inputs[i];
      const Edge& edge = op.inputs[Position(k, i)];
      if (edge.IsMissing()) return false;
      if (input.op >= 0) {
        const int32_t producer = assigned_[static_cast<size_t>(input.op)];
        if (producer >= 0 && !(edge == Edge{producer, input.output})) return false;
        continue;
      }
      Edge& bound = variables_[static_cast<size_t>(input.variable)];
      if (bound.op >= 0) {
        if (!(bound == edge)) return false;
      } else {
        bound = edge;
        newly_bound.push_back(input.variable);
      }
    }
    // Placed consumers of op k checked their edge to k lazily: check now.
    for (size_t p = 0; p < rule_.source.size(); ++p) {
      if (assigned_[p] < 0 || static_cast<int32_t>(p) == k) continue;
      const SourceOp& consumer = rule_.source[p];
      for (size_t i = 0; i < consumer.inputs.size(); ++i) {
        if (consumer.inputs[i].op != k) continue;
        const Edge& edge = graph_.op(assigned_[p]).inputs[Position(static_cast<int32_t>(p), i)];
        if (!(edge == Edge{candidate, consumer.inputs[i].output})) return false;
      }
    }
    return true;
  }

  void Complete() {
    const MatchScope scope(rule_, index_, assigned_, variables_);
    for (const Expr& constraint : rule_.constraints) {
      try {
        const Value value = Evaluate(constraint, scope);
        if (value.kind != Value::Kind::kBool) {
          throw RuleError(rule_.Where() + ": constraint '" + constraint.text + "' gives " + value.KindName() + ", not a bool");
        }
        if (!value.boolean) return;
      } catch (const RuleError&) {
        // An expression that cannot be evaluated on this match (an axis out
        // of range, a parameter of the wrong kind) means the rule does not
        // apply here; rule bugs are caught by the examples at load time.
        return;
      }
    }
    Match match;
    match.ops = assigned_;
    match.variables = variables_;
    std::optional<Rewrite> rewrite;
    try {
      rewrite = PlanRewrite(rule_, xfer_, index_, std::move(match));
    } catch (const RuleError&) {
      return;
    }
    if (rewrite) results_.push_back(std::move(*rewrite));
  }

  const Rule& rule_;
  int32_t xfer_;
  const GraphIndex& index_;
  const Graph& graph_;
  int32_t limit_;
  std::vector<Rewrite>& results_;
  std::vector<int32_t> assigned_;
  std::vector<bool> swapped_;
  std::vector<Edge> variables_;
  // Variables bound by the placements on the current path, innermost last
  // (one stack for the whole search instead of a vector per placement).
  std::vector<int32_t> newly_bound_;
};

}  // namespace

std::vector<Rewrite> FindRewrites(const Rule& rule, int32_t xfer, const GraphIndex& index, int32_t limit) {
  std::vector<Rewrite> results;
  Matcher(rule, xfer, index, limit, results).Run();
  return results;
}

// ------------------------------------------------------------------ apply

namespace {

// Names are given on apply, not when planning, since most planned rewrites
// are never applied: "<rule id>.<target op>_<key>" (generated constants:
// "<rule id>.constant<position>_<key>"), with "_<n>" appended while the
// parent graph has the name. New ops of one rewrite differ in their base.
void NameNewOp(const Graph& graph, const Rewrite& rewrite, size_t position, Op& op) {
  const NewOp& created = rewrite.new_ops[position];
  std::string base = created.name_base ? *created.name_base : "xfer" + std::to_string(rewrite.xfer) + ".op";
  if (op.IsGenerated()) base += std::to_string(position);
  base += "_" + HexSuffix(rewrite.key);
  std::string name = base;
  for (int suffix = 1; graph.FindOp(name) >= 0; ++suffix) name = base + "_" + std::to_string(suffix);
  op.name = std::move(name);
  op.output_names.clear();
  if (op.IsGenerated()) {
    op.output_names.push_back(op.name);
  } else {
    for (size_t k = 0; k < op.outputs.size(); ++k) op.output_names.push_back(op.name + ":" + std::to_string(k));
  }
}

}  // namespace

Graph ApplyRewrite(const Graph& graph, const Rewrite& rewrite) {
  const int32_t old_count = graph.NumOps();
  const auto new_count = static_cast<int32_t>(rewrite.new_ops.size());
  std::vector<bool> removed(static_cast<size_t>(old_count), false);
  for (int32_t op : rewrite.removed) removed[static_cast<size_t>(op)] = true;
  // Node ids: old ops keep their index, new op j is old_count + j.
  auto node_of = [&](const RewriteInput& input) { return input.is_new ? old_count + input.index : input.index; };
  // Resolves an old edge through the replacements: (node, output).
  auto resolve_old = [&](const Edge& edge) -> std::pair<int32_t, int32_t> {
    if (edge.IsMissing() || !removed[static_cast<size_t>(edge.op)]) return {edge.op, edge.output};
    for (const auto& [old_edge, replacement] : rewrite.replacements) {
      if (old_edge == edge) return {node_of(replacement), replacement.output};
    }
    throw ApplyError("rewrite of xfer " + std::to_string(rewrite.xfer) + " removes op #" + std::to_string(edge.op) +
                     " but leaves a reader of its output " + std::to_string(edge.output) + " unmapped");
  };
  // Every node's resolved inputs, and then its consumers, in flat arrays
  // (node k's at [offsets[k], offsets[k + 1])): apply runs once per env step.
  const auto total = static_cast<size_t>(old_count + new_count);
  std::vector<int32_t> input_offsets(total + 1, 0);
  std::vector<std::pair<int32_t, int32_t>> inputs;
  inputs.reserve(total * 2);
  for (size_t node = 0; node < total; ++node) {
    if (node < static_cast<size_t>(old_count)) {
      if (!removed[node]) {
        for (const Edge& edge : graph.op(static_cast<int32_t>(node)).inputs) inputs.push_back(resolve_old(edge));
      }
    } else {
      for (const RewriteInput& input : rewrite.new_ops[node - static_cast<size_t>(old_count)].inputs) {
        inputs.emplace_back(node_of(input), input.output);
      }
    }
    input_offsets[node + 1] = static_cast<int32_t>(inputs.size());
  }
  std::vector<int32_t> waiting(total, 0);
  std::vector<int32_t> consumer_offsets(total + 1, 0);
  for (size_t node = 0; node < total; ++node) {
    for (int32_t k = input_offsets[node]; k < input_offsets[node + 1]; ++k) {
      const int32_t producer = inputs[static_cast<size_t>(k)].first;
      if (producer < 0) continue;
      ++consumer_offsets[static_cast<size_t>(producer) + 1];
      ++waiting[node];
    }
  }
  for (size_t node = 0; node < total; ++node) consumer_offsets[node + 1] += consumer_offsets[node];
  std::vector<int32_t> consumers(static_cast<size_t>(consumer_offsets[total]));
  std::vector<int32_t> filled(consumer_offsets.begin(), consumer_offsets.end() - 1);
  for (size_t node = 0; node < total; ++node) {
    for (int32_t k = input_offsets[node]; k < input_offsets[node + 1]; ++k) {
      const int32_t producer = inputs[static_cast<size_t>(k)].first;
      if (producer >= 0) consumers[static_cast<size_t>(filled[static_cast<size_t>(producer)]++)] = static_cast<int32_t>(node);
    }
  }
  // Kahn's algorithm, smallest sort key first: old ops keep their relative
  // order; new ops sit where the first matched op was.
  const int32_t anchor = *std::min_element(rewrite.match.ops.begin(), rewrite.match.ops.end());
  auto sort_key = [&](int32_t node) -> std::pair<int32_t, int32_t> {
    return node < old_count ? std::make_pair(node, -1) : std::make_pair(anchor, node - old_count);
  };
  using Entry = std::pair<std::pair<int32_t, int32_t>, int32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> ready;
  for (size_t node = 0; node < total; ++node) {
    if (node < static_cast<size_t>(old_count) && removed[node]) continue;
    if (waiting[node] == 0) ready.emplace(sort_key(static_cast<int32_t>(node)), static_cast<int32_t>(node));
  }
  std::vector<int32_t> new_index(total, -1);
  Graph result;
  while (!ready.empty()) {
    const int32_t node = ready.top().second;
    ready.pop();
    const auto position = static_cast<int32_t>(result.NumOps());
    new_index[static_cast<size_t>(node)] = position;
    std::vector<Edge> edges;
    edges.reserve(static_cast<size_t>(input_offsets[static_cast<size_t>(node) + 1] - input_offsets[static_cast<size_t>(node)]));
    for (int32_t k = input_offsets[static_cast<size_t>(node)]; k < input_offsets[static_cast<size_t>(node) + 1]; ++k) {
      const auto& [producer, output] = inputs[static_cast<size_t>(k)];
      edges.push_back(producer < 0 ? Edge{-1, 0} : Edge{new_index[static_cast<size_t>(producer)], output});
    }
    if (node < old_count) {
      const std::shared_ptr<const Op>& original = graph.shared_op(node);
      if (position == node && edges == original->inputs) {
        result.AppendTrusted(original);
      } else {
        auto copy = std::make_shared<Op>(*original);
        copy->inputs = std::move(edges);
        result.AppendTrusted(std::move(copy));
      }
    } else {
      const size_t position_in_rewrite = static_cast<size_t>(node - old_count);
      auto created = std::make_shared<Op>(rewrite.new_ops[position_in_rewrite].op);
      created->inputs = std::move(edges);
      NameNewOp(graph, rewrite, position_in_rewrite, *created);
      result.AppendTrusted(std::move(created));
    }
    for (int32_t k = consumer_offsets[static_cast<size_t>(node)]; k < consumer_offsets[static_cast<size_t>(node) + 1]; ++k) {
      const int32_t consumer = consumers[static_cast<size_t>(k)];
      if (--waiting[static_cast<size_t>(consumer)] == 0) ready.emplace(sort_key(consumer), consumer);
    }
  }
  if (result.NumOps() != old_count + new_count - static_cast<int32_t>(rewrite.removed.size())) {
    throw ApplyError("rewrite of xfer " + std::to_string(rewrite.xfer) + " would create a cycle; the location is invalid");
  }
  std::vector<GraphOutput> outputs;
  for (const GraphOutput& output : graph.outputs()) {
    const auto [producer, index] = resolve_old(output.edge);
    outputs.push_back(GraphOutput{Edge{new_index[static_cast<size_t>(producer)], index}, output.name});
  }
  result.SetOutputsTrusted(std::move(outputs));
  return result;
}

// ------------------------------------------------------------------ locations

std::vector<std::vector<std::vector<int32_t>>> Locations::Descriptors() const {
  std::vector<std::vector<std::vector<int32_t>>> descriptors(rewrites.size());
  for (size_t i = 0; i < rewrites.size(); ++i) {
    for (const Rewrite& rewrite : rewrites[i]) descriptors[i].push_back(rewrite.match.ops);
  }
  return descriptors;
}

namespace {

void CheckMaxLocations(int32_t max_locations) {
  if (max_locations < 1) throw ApplyError("max_locations must be >= 1, got " + std::to_string(max_locations));
}

std::vector<Rewrite> SortedUniqueRewrites(const Rule& rule, int32_t xfer, const GraphIndex& index, int32_t max_locations) {
  std::vector<Rewrite> found = FindRewrites(rule, xfer, index);
  std::sort(found.begin(), found.end(), [](const Rewrite& a, const Rewrite& b) {
    if (a.match.ops != b.match.ops) return a.match.ops < b.match.ops;
    return a.match.variables.size() < b.match.variables.size() ||
           (a.match.variables.size() == b.match.variables.size() &&
            std::lexicographical_compare(a.match.variables.begin(), a.match.variables.end(), b.match.variables.begin(),
                                         b.match.variables.end(), [](const Edge& x, const Edge& y) {
                                           return x.op != y.op ? x.op < y.op : x.output < y.output;
                                         }));
  });
  std::vector<Rewrite> kept;
  std::unordered_map<uint64_t, std::vector<size_t>> kept_by_key;
  std::unordered_map<size_t, uint64_t> result_hash;  // kept index -> result hash, computed on demand
  for (Rewrite& rewrite : found) {
    if (static_cast<int32_t>(kept.size()) >= max_locations) break;
    auto& same_key = kept_by_key[rewrite.key];
    bool duplicate = false;
    if (!same_key.empty()) {
      const uint64_t hash = ApplyRewrite(index.graph(), rewrite).Hash();
      for (size_t other : same_key) {
        auto cached = result_hash.find(other);
        if (cached == result_hash.end()) cached = result_hash.emplace(other, ApplyRewrite(index.graph(), kept[other]).Hash()).first;
        if (cached->second == hash) duplicate = true;
      }
      if (!duplicate) result_hash.emplace(kept.size(), hash);
    }
    if (duplicate) continue;
    same_key.push_back(kept.size());
    kept.push_back(std::move(rewrite));
  }
  return kept;
}

}  // namespace

Locations FindLocations(const RuleLibrary& library, const Graph& graph, int32_t max_locations, int32_t only_xfer) {
  CheckMaxLocations(max_locations);
  const GraphIndex index(graph);
  Locations locations;
  locations.counts.assign(static_cast<size_t>(library.size()), 0);
  locations.rewrites.resize(static_cast<size_t>(library.size()));
  for (int32_t xfer = 0; xfer < library.size(); ++xfer) {
    if (only_xfer >= 0 && xfer != only_xfer) continue;
    locations.rewrites[static_cast<size_t>(xfer)] = SortedUniqueRewrites(library.rule(xfer), xfer, index, max_locations);
    locations.counts[static_cast<size_t>(xfer)] = static_cast<int32_t>(locations.rewrites[static_cast<size_t>(xfer)].size());
  }
  return locations;
}

Graph ApplyLocation(const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location, int32_t max_locations) {
  if (xfer < 0 || xfer >= library.size()) {
    throw ApplyError("xfer id " + std::to_string(xfer) + " is out of range: the library has " + std::to_string(library.size()) +
                     " xfers (valid ids 0.." + std::to_string(library.size() - 1) + ")");
  }
  CheckMaxLocations(max_locations);
  const Locations locations = FindLocations(library, graph, max_locations, xfer);
  const int32_t count = locations.counts[static_cast<size_t>(xfer)];
  if (location < 0 || location >= count) {
    throw ApplyError("location " + std::to_string(location) + " of xfer " + std::to_string(xfer) + " ('" + library.rule(xfer).id +
                     "') is out of range: it has " + std::to_string(count) + " locations in this graph" +
                     (count ? " (valid 0.." + std::to_string(count - 1) + ")" : ""));
  }
  return ApplyRewrite(graph, locations.rewrites[static_cast<size_t>(xfer)][static_cast<size_t>(location)]);
}

}  // namespace xflow
