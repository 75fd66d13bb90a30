// The environment's observation of a graph (dissertation section 3.2.3).
//
//   NodeTypeVocabulary  the op types a node's one-hot ranges over: every
//                       modelled op type, then Input, Weight, Constant,
//                       Opaque. Its size + 1 is the node feature width.
//   Observation         one graph's GraphsTuple fields (nodes, edges,
//                       senders, receivers, globals) plus the action masks:
//                       xfer_tuples [N, L, K] (matched op indices, -1
//                       padded), location_masks [N, L], xfer_mask [N + 1]
//                       (NO-OP last, always valid) and the location counts.
//   Observe             builds it from a graph, its cost and its locations.
//
// Features, chosen so their scales stay comparable across graphs whose
// sizes differ by orders of magnitude (everything is log1p-scaled):
//   node   one-hot op type, then log1p(op runtime in microseconds);
//   edge   the carried tensor's last kEdgeFeatureSize dims, right-aligned,
//          log1p-scaled, zero-padded on the left (a [N, C, H, W] activation
//          and a [768] vector both fit);
//   global log1p of runtime (us), FLOPs (G), memory access (MB), launches.
// Node i is op i of the graph, so xfer_tuples index nodes directly.
#ifndef RLGRAPH_XFLOW_ENGINE_OBSERVATION_H_
#define RLGRAPH_XFLOW_ENGINE_OBSERVATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/cost_model.h"
#include "engine/graph.h"
#include "engine/substitution.h"

namespace xflow {

inline constexpr int32_t kEdgeFeatureSize = 4;
inline constexpr int32_t kGlobalFeatureSize = 4;
inline constexpr int32_t kPaddingIndex = -1;

const std::vector<std::string>& NodeTypeVocabulary();
int32_t NodeFeatureSize();

struct Observation {
  int32_t num_nodes = 0;
  int32_t num_edges = 0;
  std::vector<float> nodes;       // [num_nodes, NodeFeatureSize()]
  std::vector<float> edges;       // [num_edges, kEdgeFeatureSize]
  std::vector<int32_t> senders;   // [num_edges]
  std::vector<int32_t> receivers; // [num_edges]
  std::vector<float> globals;     // [kGlobalFeatureSize]
  std::vector<int32_t> xfer_tuples;     // [num_xfers, max_locations, max_pattern_ops]
  std::vector<uint8_t> location_masks;  // [num_xfers, max_locations]
  std::vector<uint8_t> xfer_mask;       // [num_xfers + 1]
  std::vector<int32_t> location_counts; // [num_xfers]
};

// descriptors[i][j] are the matched op indices of location j of xfer i
// (at most max_locations per xfer, each at most max_pattern_ops long).
// Throws GraphError when a descriptor exceeds those bounds or names an op
// the graph does not have.
Observation Observe(const Graph& graph, const GraphCost& cost,
                    const std::vector<std::vector<std::vector<int32_t>>>& descriptors, int32_t max_locations,
                    int32_t max_pattern_ops);
// The same, reading each location's matched ops from FindLocations' result
// (no copy of the descriptors).
Observation Observe(const Graph& graph, const GraphCost& cost, const Locations& locations, int32_t max_locations,
                    int32_t max_pattern_ops);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_OBSERVATION_H_
