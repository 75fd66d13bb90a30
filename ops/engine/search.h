// Search baselines over the substitution rules: greedy descent and TASO's
// cost-based backtracking (Jia et al. 2019, "TASO: Optimizing Deep Learning
// Computation with Automatic Generation of Graph Substitutions", Alg. 2).
// Both price graphs with a SearchCost (search_cost.h).
//
//   SearchResult   best graph, the rule ids applied to reach it and the
//                  (xfer, location) steps that reproduce it (in order),
//                  initial and final runtime, wall seconds, graphs explored.
//   GreedySearch   repeatedly applies the single location that lowers the
//                  runtime most, until none lowers it.
//   BacktrackingSearch  priority queue by runtime; a popped graph counts
//                  against the budget; each of its rewrites is priced and
//                  hashed without being built (PricedGraph), deduplicated by
//                  graph hash and queued when its runtime is below
//                  alpha * best. Queued entries keep only (parent, xfer,
//                  location, runtime), not the graph, so memory stays small;
//                  the graph is built when the entry is popped.
#ifndef RLGRAPH_XFLOW_ENGINE_SEARCH_H_
#define RLGRAPH_XFLOW_ENGINE_SEARCH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/graph.h"
#include "engine/rule.h"
#include "engine/search_cost.h"
#include "engine/substitution.h"

namespace xflow {

struct SearchResult {
  Graph best;
  std::vector<std::string> applied;
  // (xfer, location) per applied rewrite: location indexes FindLocations of
  // the graph before that step, with the search's max_locations.
  std::vector<std::pair<int32_t, int32_t>> steps;
  double initial_cost_ms = 0;
  double final_cost_ms = 0;
  double seconds = 0;
  int64_t explored = 0;
};

// max_steps bounds the number of rewrites applied.
SearchResult GreedySearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost,
                          int32_t max_locations = kDefaultMaxLocations, int32_t max_steps = 100000);

// alpha >= 1 (TASO's default 1.05); budget >= 1 graphs popped. With
// time_limit_seconds > 0 the search also stops popping once that much wall
// time has passed (0: no limit), so it can be compared with other methods at
// equal wall-clock.
SearchResult BacktrackingSearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost, double alpha = 1.05,
                                int32_t budget = 1000, int32_t max_locations = kDefaultMaxLocations,
                                double time_limit_seconds = 0.0);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_SEARCH_H_
