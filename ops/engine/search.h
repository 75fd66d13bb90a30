// Search baselines over the substitution rules: greedy descent and TASO's
// cost-based backtracking (Jia et al. 2019, "TASO: Optimizing Deep Learning
// Computation with Automatic Generation of Graph Substitutions", Alg. 2).
//
//   SearchCost     prices graphs for search: runtime (ms) per op from a
//                  measured table, a measuring callback for keys the table
//                  lacks, and/or the analytic roofline; caches per op by
//                  CostHash (type, parameters, input types, constness and
//                  constant values), so a graph that differs from an earlier
//                  one in a few ops costs a few cache misses.
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

#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/graph.h"
#include "engine/kernel_cost.h"
#include "engine/measurement.h"
#include "engine/rule.h"
#include "engine/substitution.h"

namespace xflow {

class SearchCost {
 public:
  using Measure = std::function<double(const MeasurementDescriptor&)>;

  // At least one source: a table, a measure callback, or an analytic
  // profile. A launched op is priced from the table, else by measure(),
  // else by the roofline; with none of them applicable, CostError.
  SearchCost(const CostTable* table, Measure measure, const DeviceProfile* analytic);
  // Prices by the runtime's kernels (kernel_cost.h). A rewrite changes which
  // neighbouring ops fuse, so no candidate is priced from its parent's
  // per-op runtimes (Cached() finds nothing): the search builds each one.
  explicit SearchCost(std::shared_ptr<CachedKernelCost> kernels);

  double RuntimeMs(const Graph& graph);
  // Per-op runtimes in op order (0 for leaves and folded constants);
  // constant as returned by graph.ConstantOps(). They sum to RuntimeMs: with
  // kernel pricing, op 0 also carries the runtime's per-call cost.
  std::vector<double> OpRuntimesMs(const Graph& graph, const std::vector<bool>& constant);
  // The runtime of an op with this CostHash when an earlier graph priced
  // one; null otherwise.
  const double* Cached(uint64_t cost_hash) const;
  // False under kernel pricing: an op's runtime then depends on its
  // neighbours, so a rewrite's runtime is not its parent's minus the removed
  // ops' plus the new ops'.
  bool additive() const { return !kernels_; }
  int64_t cache_size() const { return static_cast<int64_t>(runtime_by_cost_hash_.size()); }

 private:
  const CostTable* table_;
  Measure measure_;
  const DeviceProfile* analytic_;
  std::shared_ptr<CachedKernelCost> kernels_;
  std::unordered_map<uint64_t, double> runtime_by_cost_hash_;
  std::unordered_map<std::string, double> measured_by_key_;
};

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
