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
    : library_(std::move(library)), pricer_(profile), max_locations_(max_locations) {
  if (!library_) throw GraphError("EnvironmentState needs a rule library");
  if (max_locations_ < 1) throw GraphError("EnvironmentState: max_locations must be >= 1, got " + std::to_string(max_locations_));
  max_pattern_ops_ = MaxPatternOps(*library_);
}

void EnvironmentState::Reset(Graph graph) {
  graph_ = std::move(graph);
  Refresh();
}

bool EnvironmentState::Apply(int32_t xfer, int32_t location) {
  if (!IsValidLocation(locations_, xfer, location)) return false;
  graph_ = ApplyRewrite(graph_, locations_.rewrites[static_cast<size_t>(xfer)][static_cast<size_t>(location)]);
  Refresh();
  return true;
}

void EnvironmentState::Refresh() {
  cost_ = pricer_.Price(graph_);
  locations_ = FindLocations(*library_, graph_, max_locations_);
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

std::pair<Graph, bool> ApplyToGraph(const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location,
                                    int32_t max_locations) {
  if (xfer < 0 || xfer >= library.size()) return {graph, false};
  const Locations locations = FindLocations(library, graph, max_locations, xfer);
  if (!IsValidLocation(locations, xfer, location)) return {graph, false};
  return {ApplyRewrite(graph, locations.rewrites[static_cast<size_t>(xfer)][static_cast<size_t>(location)]), true};
}

}  // namespace xflow
