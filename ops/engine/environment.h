// The RL environment's state machine over the engine (dissertation 3.2.1).
//
//   EnvironmentState  one episode's current graph with its cost and its
//                     locations computed once per graph and reused by both
//                     the observation and the next apply, so a step costs
//                     one apply, one cost and one matcher pass.
//   MaxPatternOps     K: the most source ops any rule of a library matches.
//   ObserveGraph / ApplyToGraph  stateless versions over a graph, used by
//                     the TF ops (which carry graphs as serialized strings).
//
// Costs are analytic (a device profile, the default) or measured kernels
// (a CachedKernelCost shared with other environments and searches, so its
// cache of kernel runtimes fills once per process). The observation's
// per-node runtime is the cost breakdown's: with kernels, a kernel's runtime
// sits on its last member and fused members read 0. The TF ops observe with
// a device profile only. An action (xfer, location) is
// valid iff 0 <= xfer < N and 0 <= location < count[xfer]; NO-OP (xfer == N)
// is the caller's business (it ends the episode and changes nothing).
#ifndef RLGRAPH_XFLOW_ENGINE_ENVIRONMENT_H_
#define RLGRAPH_XFLOW_ENGINE_ENVIRONMENT_H_

#include <memory>
#include <optional>

#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/graph.h"
#include "engine/kernel_cost.h"
#include "engine/observation.h"
#include "engine/rule.h"
#include "engine/substitution.h"

namespace xflow {

int32_t MaxPatternOps(const RuleLibrary& library);

class EnvironmentState {
 public:
  EnvironmentState(std::shared_ptr<const RuleLibrary> library, const DeviceProfile& profile, int32_t max_locations);
  // Prices by the runtime's kernels. A kernel the pricer cannot price (not
  // in its table, no measure callback) is a CostError from Reset or Apply,
  // which then leave the state as it was.
  EnvironmentState(std::shared_ptr<const RuleLibrary> library, std::shared_ptr<CachedKernelCost> kernel_pricer,
                   int32_t max_locations);

  // Starts from `graph` (computes its cost and locations).
  void Reset(Graph graph);
  // Applies location `location` of xfer `xfer` when it is valid and returns
  // true; returns false and changes nothing otherwise (never throws for an
  // invalid pair).
  bool Apply(int32_t xfer, int32_t location);

  const Graph& graph() const { return graph_; }
  const GraphCost& cost() const { return cost_; }
  const Locations& locations() const { return locations_; }
  const RuleLibrary& library() const { return *library_; }
  int32_t max_locations() const { return max_locations_; }
  int32_t max_pattern_ops() const { return max_pattern_ops_; }
  // Null when costs are analytic.
  const std::shared_ptr<CachedKernelCost>& kernel_pricer() const { return kernel_pricer_; }
  Observation Observe() const;

 private:
  // Prices `graph` and finds its locations before replacing the current
  // graph, so a pricing error changes nothing.
  void MoveTo(Graph graph);

  std::shared_ptr<const RuleLibrary> library_;
  std::optional<CachedAnalyticCost> analytic_pricer_;
  std::shared_ptr<CachedKernelCost> kernel_pricer_;
  int32_t max_locations_;
  int32_t max_pattern_ops_;
  Graph graph_;
  GraphCost cost_;
  Locations locations_;
};

Observation ObserveGraph(const RuleLibrary& library, const Graph& graph, const DeviceProfile& profile,
                         int32_t max_locations);
Observation ObserveGraph(const RuleLibrary& library, const Graph& graph, CachedKernelCost& kernel_pricer,
                         int32_t max_locations);

// The graph after (xfer, location) and whether that pair was valid (when it
// was not, the input graph is returned unchanged).
std::pair<Graph, bool> ApplyToGraph(const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location,
                                    int32_t max_locations);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_ENVIRONMENT_H_
