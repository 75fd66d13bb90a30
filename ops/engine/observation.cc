// Observation features of a graph (see observation.h).
#include "engine/observation.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/errors.h"
#include "engine/op_registry.h"

namespace xflow {
namespace {

const std::unordered_map<std::string, int32_t>& VocabularyIndex() {
  static const std::unordered_map<std::string, int32_t> index = [] {
    std::unordered_map<std::string, int32_t> built;
    const auto& vocabulary = NodeTypeVocabulary();
    for (size_t i = 0; i < vocabulary.size(); ++i) built.emplace(vocabulary[i], static_cast<int32_t>(i));
    return built;
  }();
  return index;
}

float Log1p(double value) { return static_cast<float>(std::log1p(std::max(0.0, value))); }

}  // namespace

const std::vector<std::string>& NodeTypeVocabulary() {
  static const std::vector<std::string> vocabulary = [] {
    std::vector<std::string> types = SupportedOpTypes();
    std::sort(types.begin(), types.end());
    for (const char* leaf : {kInputOp, kWeightOp, kConstantOp, kOpaqueOp}) types.emplace_back(leaf);
    return types;
  }();
  return vocabulary;
}

int32_t NodeFeatureSize() { return static_cast<int32_t>(NodeTypeVocabulary().size()) + 1; }

namespace {

// matched(xfer, location) -> the location's matched op indices;
// count(xfer) -> its number of locations.
template <typename Count, typename Matched>
Observation ObserveWith(const Graph& graph, const GraphCost& cost, int32_t num_xfers, Count count, Matched matched_ops,
                        int32_t max_locations, int32_t max_pattern_ops) {
  if (max_locations < 1 || max_pattern_ops < 1) {
    throw GraphError("Observe: max_locations and max_pattern_ops must be >= 1, got " + std::to_string(max_locations) +
                     " and " + std::to_string(max_pattern_ops));
  }
  Observation observation;
  const int32_t num_nodes = graph.NumOps();
  const int32_t feature_size = NodeFeatureSize();
  observation.num_nodes = num_nodes;
  observation.nodes.assign(static_cast<size_t>(num_nodes) * static_cast<size_t>(feature_size), 0.0f);
  std::vector<double> runtime_ms(static_cast<size_t>(num_nodes), 0.0);
  for (const OpCost& op_cost : cost.ops) runtime_ms[static_cast<size_t>(op_cost.op_index)] = op_cost.runtime_ms;

  const auto& vocabulary = VocabularyIndex();
  for (int32_t index = 0; index < num_nodes; ++index) {
    const Op& op = graph.op(index);
    const auto found = vocabulary.find(op.type);
    if (found == vocabulary.end()) throw GraphError("Observe: " + op.Describe() + " has a type outside the node vocabulary");
    float* row = &observation.nodes[static_cast<size_t>(index) * static_cast<size_t>(feature_size)];
    row[found->second] = 1.0f;
    row[feature_size - 1] = Log1p(runtime_ms[static_cast<size_t>(index)] * 1e3);
    for (const Edge& input : op.inputs) {
      if (input.IsMissing()) continue;
      observation.senders.push_back(input.op);
      observation.receivers.push_back(index);
      const Shape& shape = graph.TypeOf(input).shape;
      const size_t offset = observation.edges.size();
      observation.edges.resize(offset + kEdgeFeatureSize, 0.0f);
      const size_t rank = shape.size();
      const size_t used = std::min(rank, static_cast<size_t>(kEdgeFeatureSize));
      for (size_t dim = 0; dim < used; ++dim) {
        observation.edges[offset + kEdgeFeatureSize - used + dim] = Log1p(static_cast<double>(shape[rank - used + dim]));
      }
    }
  }
  observation.num_edges = static_cast<int32_t>(observation.senders.size());
  observation.globals = {Log1p(cost.runtime_ms * 1e3), Log1p(cost.flops / 1e9), Log1p(cost.mem_access_bytes / 1e6),
                         Log1p(static_cast<double>(cost.kernel_launches))};

  observation.xfer_tuples.assign(static_cast<size_t>(num_xfers) * static_cast<size_t>(max_locations) *
                                     static_cast<size_t>(max_pattern_ops), kPaddingIndex);
  observation.location_masks.assign(static_cast<size_t>(num_xfers) * static_cast<size_t>(max_locations), 0);
  observation.xfer_mask.assign(static_cast<size_t>(num_xfers) + 1, 0);
  observation.location_counts.assign(static_cast<size_t>(num_xfers), 0);
  for (int32_t xfer = 0; xfer < num_xfers; ++xfer) {
    const size_t locations = count(xfer);
    if (static_cast<int64_t>(locations) > max_locations) {
      throw GraphError("Observe: xfer " + std::to_string(xfer) + " has " + std::to_string(locations) +
                       " locations, more than max_locations " + std::to_string(max_locations));
    }
    observation.location_counts[static_cast<size_t>(xfer)] = static_cast<int32_t>(locations);
    observation.xfer_mask[static_cast<size_t>(xfer)] = locations == 0 ? 0 : 1;
    for (size_t location = 0; location < locations; ++location) {
      const std::vector<int32_t>& matched = matched_ops(xfer, location);
      if (static_cast<int32_t>(matched.size()) > max_pattern_ops) {
        throw GraphError("Observe: location " + std::to_string(location) + " of xfer " + std::to_string(xfer) +
                         " matches " + std::to_string(matched.size()) + " ops, more than max_pattern_ops " +
                         std::to_string(max_pattern_ops));
      }
      const size_t row = static_cast<size_t>(xfer) * static_cast<size_t>(max_locations) + location;
      observation.location_masks[row] = 1;
      for (size_t slot = 0; slot < matched.size(); ++slot) {
        if (matched[slot] < 0 || matched[slot] >= num_nodes) {
          throw GraphError("Observe: location " + std::to_string(location) + " of xfer " + std::to_string(xfer) +
                           " names op " + std::to_string(matched[slot]) + ", outside [0, " + std::to_string(num_nodes) + ")");
        }
        observation.xfer_tuples[row * static_cast<size_t>(max_pattern_ops) + slot] = matched[slot];
      }
    }
  }
  observation.xfer_mask[static_cast<size_t>(num_xfers)] = 1;  // NO-OP is always valid
  return observation;
}

}  // namespace

Observation Observe(const Graph& graph, const GraphCost& cost,
                    const std::vector<std::vector<std::vector<int32_t>>>& descriptors, int32_t max_locations,
                    int32_t max_pattern_ops) {
  return ObserveWith(
      graph, cost, static_cast<int32_t>(descriptors.size()),
      [&](int32_t xfer) { return descriptors[static_cast<size_t>(xfer)].size(); },
      [&](int32_t xfer, size_t location) -> const std::vector<int32_t>& { return descriptors[static_cast<size_t>(xfer)][location]; },
      max_locations, max_pattern_ops);
}

Observation Observe(const Graph& graph, const GraphCost& cost, const Locations& locations, int32_t max_locations,
                    int32_t max_pattern_ops) {
  return ObserveWith(
      graph, cost, static_cast<int32_t>(locations.rewrites.size()),
      [&](int32_t xfer) { return locations.rewrites[static_cast<size_t>(xfer)].size(); },
      [&](int32_t xfer, size_t location) -> const std::vector<int32_t>& {
        return locations.rewrites[static_cast<size_t>(xfer)][location].match.ops;
      },
      max_locations, max_pattern_ops);
}

}  // namespace xflow
