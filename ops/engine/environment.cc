// The RL environment's state machine (see environment.h).
#include "engine/environment.h"

#include <algorithm>

#include "engine/errors.h"

namespace xflow {
namespace {

bool IsValidLocation(const Locations& locations, int32_t xfer, int32_t location) {
  return xfer >= 0 && xfer < static_cast<int32_t>(locations.counts.size()) && location >= 0 &&
         location < locations.counts[static_cast<size_t>(xfer)];
}

}  // namespace

int32_t MaxPatternOps(const RuleLibrary& library) {
  int32_t most = 1;
  for (const Rule& rule : library.rules()) most = std::max(most, static_cast<int32_t>(rule.source.size()));
  return most;
}

EnvironmentState::EnvironmentState(std::shared_ptr<const RuleLibrary> library, const DeviceProfile& profile,
                                   int32_t max_locations)
    : library_(std::move(library)), analytic_pricer_(std::in_place, profile), max_locations_(max_locations) {
  if (!library_) throw GraphError("EnvironmentState needs a rule library");
  if (max_locations_ < 1) throw GraphError("EnvironmentState: max_locations must be >= 1, got " + std::to_string(max_locations_));
  max_pattern_ops_ = MaxPatternOps(*library_);
}

EnvironmentState::EnvironmentState(std::shared_ptr<const RuleLibrary> library, std::shared_ptr<CachedKernelCost> kernel_pricer,
                                   int32_t max_locations)
    : library_(std::move(library)), kernel_pricer_(std::move(kernel_pricer)), max_locations_(max_locations) {
  if (!library_) throw GraphError("EnvironmentState needs a rule library");
  if (!kernel_pricer_) throw CostError("EnvironmentState: the kernel pricer is null; give a KernelPricer or a device profile");
  if (max_locations_ < 1) throw GraphError("EnvironmentState: max_locations must be >= 1, got " + std::to_string(max_locations_));
  max_pattern_ops_ = MaxPatternOps(*library_);
}

void EnvironmentState::Reset(Graph graph) { MoveTo(std::move(graph)); }

bool EnvironmentState::Apply(int32_t xfer, int32_t location) {
  if (!IsValidLocation(locations_, xfer, location)) return false;
  MoveTo(ApplyRewrite(graph_, locations_.rewrites[static_cast<size_t>(xfer)][static_cast<size_t>(location)]));
  return true;
}

void EnvironmentState::MoveTo(Graph graph) {
  GraphCost cost = kernel_pricer_ ? kernel_pricer_->Price(graph) : analytic_pricer_->Price(graph);
  Locations locations = FindLocations(*library_, graph, max_locations_);
  graph_ = std::move(graph);
  cost_ = std::move(cost);
  locations_ = std::move(locations);
}

Observation EnvironmentState::Observe() const {
  return xflow::Observe(graph_, cost_, locations_, max_locations_, max_pattern_ops_);
}

Observation ObserveGraph(const RuleLibrary& library, const Graph& graph, const DeviceProfile& profile,
                         int32_t max_locations) {
  const GraphCost cost = ComputeCost(graph, nullptr, &profile);
  const Locations locations = FindLocations(library, graph, max_locations);
  return Observe(graph, cost, locations, max_locations, MaxPatternOps(library));
}

Observation ObserveGraph(const RuleLibrary& library, const Graph& graph, CachedKernelCost& kernel_pricer,
                         int32_t max_locations) {
  const GraphCost cost = kernel_pricer.Price(graph);
  const Locations locations = FindLocations(library, graph, max_locations);
  return Observe(graph, cost, locations, max_locations, MaxPatternOps(library));
}

std::pair<Graph, bool> ApplyToGraph(const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location,
                                    int32_t max_locations) {
  if (xfer < 0 || xfer >= library.size()) return {graph, false};
  const Locations locations = FindLocations(library, graph, max_locations, xfer);
  if (!IsValidLocation(locations, xfer, location)) return {graph, false};
  return {ApplyRewrite(graph, locations.rewrites[static_cast<size_t>(xfer)][static_cast<size_t>(location)]), true};
}

}  // namespace xflow
