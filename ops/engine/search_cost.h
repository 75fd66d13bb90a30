// SearchCost prices graphs for search: runtime (ms) per op from a measured
// table, a measuring callback for keys the table lacks, and/or the analytic
// roofline; or by the runtime's kernels. It caches per op by CostHash (type,
// parameters, input types, constness and constant values), so a graph that
// differs from an earlier one in a few ops costs a few cache misses.
//
// Its own header so that PricedGraph, which prices with it, does not depend
// on the search algorithms (search.h) that are built on PricedGraph.
#ifndef RLGRAPH_XFLOW_ENGINE_SEARCH_COST_H_
#define RLGRAPH_XFLOW_ENGINE_SEARCH_COST_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/graph.h"
#include "engine/kernel_cost.h"
#include "engine/measurement.h"

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

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_SEARCH_COST_H_
