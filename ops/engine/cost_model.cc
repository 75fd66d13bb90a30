// Op metrics, cost keys and graph pricing (see cost_model.h).
#include "engine/cost_model.h"

#include <algorithm>
#include <cstdio>

#include "engine/errors.h"
#include "engine/hash.h"
#include "engine/op_registry.h"

namespace xflow {

OpMetrics ComputeOpMetrics(const Graph& graph, int32_t index, const std::vector<bool>& constant) {
  const Op& op = graph.op(index);
  OpMetrics metrics;
  if (op.IsLeaf() || constant[static_cast<size_t>(index)]) return metrics;
  const OpContext context = OpContext::Of(graph, op, static_cast<int32_t>(op.outputs.size()));
  if (op.type == kOpaqueOp) {
    metrics.bytes = DefaultBytes(context, op.outputs);
    metrics.kernel_launches = 1;
    return metrics;
  }
  const OpDefinition* definition = FindOpDefinition(op.type);
  if (definition == nullptr || !definition->needs_kernel) return metrics;
  metrics.flops = definition->flops ? definition->flops(context, op.outputs) : 0;
  metrics.bytes = definition->bytes ? definition->bytes(context, op.outputs) : DefaultBytes(context, op.outputs);
  metrics.kernel_launches = 1;
  return metrics;
}

namespace {

// Long or binary strings (an opaque op's NodeProto) enter keys as a hash so
// keys stay printable and short enough for a JSON cache.
std::string KeyText(const ParamValue& value) {
  if (KindOf(value) == ParamKind::kString) {
    const std::string& text = std::get<std::string>(value);
    const bool printable = text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
                             return c >= 0x20 && c < 0x7f && c != '"';
                           });
    if (!printable) {
      char buffer[24];
      std::snprintf(buffer, sizeof(buffer), "#%016llx", static_cast<unsigned long long>(HashString(text)));
      return buffer;
    }
  }
  return ParamValueToString(value);
}

}  // namespace

std::string CostKey(const Graph& graph, int32_t index, const std::vector<bool>& constant) {
  const Op& op = graph.op(index);
  std::string key = op.type;
  key += "(";
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const Edge& edge = op.inputs[i];
    if (i) key += ",";
    if (edge.IsMissing()) {
      key += "-";
      continue;
    }
    key += TensorTypeToString(graph.TypeOf(edge));
    if (constant[static_cast<size_t>(edge.op)]) key += "w";
    if (const IntList* values = graph.IntValuesOf(edge)) key += "=" + ShapeToString(*values);
  }
  key += ")->" + std::to_string(op.outputs.size());
  if (op.type == kOpaqueOp) {
    // Opaque outputs are not implied by the inputs, so they join the key.
    for (const TensorType& output : op.outputs) key += "," + TensorTypeToString(output);
  }
  key += "{";
  bool first = true;
  for (const auto& [name, value] : op.params) {
    if (!first) key += ",";
    first = false;
    key += name + "=" + KeyText(value);
  }
  return key + "}";
}

namespace {

// input(i) -> CostInput of input i; shared by both CostHash overloads so the
// graph one needs no vector per op.
template <typename InputAt>
uint64_t CostHashWith(const Op& op, size_t count, InputAt input_at) {
  uint64_t hash = OpHeadHash(op);
  for (size_t i = 0; i < count; ++i) {
    const CostInput input = input_at(i);
    if (input.type == nullptr) {
      hash = CombineHash(hash, kMissingInputHash);
      continue;
    }
    hash = CombineHash(CombineHash(hash, HashTensorType(*input.type)), input.constant ? 1 : 0);
    if (input.int_values != nullptr) {
      uint64_t values = CombineHash(0x696e7473ULL, input.int_values->size());
      for (int64_t value : *input.int_values) values = CombineHash(values, static_cast<uint64_t>(value));
      hash = CombineHash(hash, values);
    }
  }
  hash = CombineHash(hash, op.outputs.size());
  if (op.type == kOpaqueOp) {
    for (const TensorType& output : op.outputs) hash = CombineHash(hash, HashTensorType(output));
  }
  return hash;
}

}  // namespace

uint64_t CostHash(const Op& op, const std::vector<CostInput>& inputs) {
  return CostHashWith(op, inputs.size(), [&](size_t i) { return inputs[i]; });
}

uint64_t CostHash(const Graph& graph, int32_t index, const std::vector<bool>& constant) {
  const Op& op = graph.op(index);
  return CostHashWith(op, op.inputs.size(), [&](size_t i) {
    const Edge& edge = op.inputs[i];
    if (edge.IsMissing()) return CostInput{};
    return CostInput{&graph.TypeOf(edge), static_cast<bool>(constant[static_cast<size_t>(edge.op)]), graph.IntValuesOf(edge)};
  });
}

void CostTable::Set(const std::string& cost_key, double runtime_ms) {
  if (!(runtime_ms >= 0)) {
    throw CostError("measured runtime for cost key '" + cost_key + "' must be a number >= 0 ms, got " +
                    std::to_string(runtime_ms));
  }
  runtime_ms_[cost_key] = runtime_ms;
}

const double* CostTable::Find(const std::string& cost_key) const {
  auto found = runtime_ms_.find(cost_key);
  return found == runtime_ms_.end() ? nullptr : &found->second;
}

double AnalyticRuntimeMs(const OpMetrics& metrics, const DeviceProfile& profile) {
  const double compute_ms = metrics.flops / profile.peak_flops_per_second * 1e3;
  const double memory_ms = metrics.bytes / profile.bandwidth_bytes_per_second * 1e3;
  return std::max(compute_ms, memory_ms) + static_cast<double>(metrics.kernel_launches) * profile.launch_overhead_ms;
}

void AddOpCost(GraphCost& cost, OpCost record) {
  cost.runtime_ms += record.runtime_ms;
  cost.flops += record.metrics.flops;
  cost.mem_access_bytes += record.metrics.bytes;
  cost.kernel_launches += record.metrics.kernel_launches;
  cost.ops.push_back(std::move(record));
}

GraphCost ComputeCost(const Graph& graph, const CostTable* table, const DeviceProfile* analytic) {
  if (table == nullptr && analytic == nullptr) throw CostError("pricing a graph needs a cost table or a device profile");
  const std::vector<bool> constant = graph.ConstantOps();
  GraphCost cost;
  AddOpCosts(graph, cost, [&](const Op& op, OpCost& record) {
    record.metrics = ComputeOpMetrics(graph, record.op_index, constant);
    record.cost_key = CostKey(graph, record.op_index, constant);
    if (record.metrics.kernel_launches <= 0) return;
    const double* measured = table ? table->Find(record.cost_key) : nullptr;
    if (measured != nullptr) {
      record.runtime_ms = *measured;
    } else if (analytic != nullptr) {
      record.runtime_ms = AnalyticRuntimeMs(record.metrics, *analytic);
    } else {
      throw CostError(op.Describe() + ": cost key '" + record.cost_key + "' is missing from the measured cost table (" +
                      std::to_string(table->size()) + " entries); measure it first or allow the analytic fallback");
    }
  });
  return cost;
}

GraphCost CachedAnalyticCost::Price(const Graph& graph) {
  const std::vector<bool> constant = graph.ConstantOps();
  GraphCost cost;
  cost.ops.reserve(static_cast<size_t>(graph.NumOps()));
  AddOpCosts(graph, cost, [&](const Op&, OpCost& record) {
    const uint64_t cost_hash = CostHash(graph, record.op_index, constant);
    auto cached = by_cost_hash_.find(cost_hash);
    if (cached == by_cost_hash_.end()) {
      // Constness is part of the hash (the inputs' flags), so equal hashes
      // agree on whether the op is folded.
      const OpMetrics metrics = ComputeOpMetrics(graph, record.op_index, constant);
      const double runtime = metrics.kernel_launches > 0 ? AnalyticRuntimeMs(metrics, *profile_) : 0.0;
      cached = by_cost_hash_.emplace(cost_hash, std::make_pair(metrics, runtime)).first;
    }
    record.metrics = cached->second.first;
    record.runtime_ms = cached->second.second;
  });
  return cost;
}

}  // namespace xflow
