// Python face of the search baselines: _engine.greedy and
// _engine.backtracking, and _engine.rewrite_estimates (what the searches
// predict about candidates without building them; tests check it). Registered into _engine by engine_module.cc.
//
// Cost sources: with neither cost_table nor measure, the analytic roofline
// of `device`; otherwise the table ({cost_key: ms}), then measure(descriptor)
// -> ms for keys the table lacks, then -- only when fallback_to_analytic --
// the roofline; a key nothing can price raises CostError. With kernel_pricer
// (a KernelPricer), graphs are priced by the runtime's kernels instead.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "engine/device_profiles.h"
#include "engine/errors.h"
#include "engine/priced_graph.h"
#include "engine/search.h"
#include "engine/search_cost.h"

namespace py = pybind11;

namespace {

struct CostSources {
  xflow::CostTable table;
  bool has_table = false;
  xflow::SearchCost::Measure measure;
  const xflow::DeviceProfile* profile = nullptr;
};

CostSources MakeSources(const std::string& device, const std::optional<std::map<std::string, double>>& cost_table,
                        const py::object& measure, bool fallback_to_analytic) {
  CostSources sources;
  if (cost_table) {
    sources.has_table = true;
    for (const auto& [key, runtime] : *cost_table) sources.table.Set(key, runtime);
  }
  if (!measure.is_none()) {
    if (!PyCallable_Check(measure.ptr())) throw xflow::CostError("measure must be callable(descriptor) -> ms or None");
    sources.measure = [measure](const xflow::MeasurementDescriptor& descriptor) {
      return measure(MeasurementDescriptorToDict(descriptor)).cast<double>();
    };
  }
  if ((!sources.has_table && !sources.measure) || fallback_to_analytic) sources.profile = &xflow::GetDeviceProfile(device);
  return sources;
}

// A kernel pricer, when given, replaces every other cost source.
xflow::SearchCost MakeSearchCost(const CostSources& sources, const std::optional<KernelPricer>& kernel_pricer) {
  if (kernel_pricer) {
    if (sources.has_table || sources.measure) throw xflow::CostError("give either kernel_pricer or cost_table/measure, not both");
    return xflow::SearchCost(*kernel_pricer);
  }
  return xflow::SearchCost(sources.has_table ? &sources.table : nullptr, sources.measure, sources.profile);
}

py::tuple ToTuple(xflow::SearchResult result) {
  return py::make_tuple(std::move(result.best), result.applied, result.initial_cost_ms, result.final_cost_ms, result.seconds,
                        result.explored, result.steps);
}

}  // namespace

void RegisterSearchBindings(py::module_& module) {
  module.def(
      "greedy",
      [](const xflow::Graph& graph, const xflow::RuleLibrary& library, const std::string& device,
         const std::optional<std::map<std::string, double>>& cost_table, const py::object& measure, bool fallback_to_analytic,
         int32_t max_locations, int32_t max_steps, const std::optional<KernelPricer>& kernel_pricer) {
        CostSources sources = MakeSources(device, cost_table, measure, fallback_to_analytic);
        xflow::SearchCost cost = MakeSearchCost(sources, kernel_pricer);
        return ToTuple(xflow::GreedySearch(graph, library, cost, max_locations, max_steps));
      },
      py::arg("graph"), py::arg("library"), py::arg("device") = "h100", py::arg("cost_table") = py::none(),
      py::arg("measure") = py::none(), py::arg("fallback_to_analytic") = false,
      py::arg("max_locations") = xflow::kDefaultMaxLocations, py::arg("max_steps") = 100000, py::arg("kernel_pricer") = py::none(),
      "Greedy descent: apply the location that lowers the runtime most until none does. Returns (best graph, "
      "applied rule ids, initial ms, final ms, seconds, explored graphs, (xfer, location) steps).");
  module.def(
      "backtracking",
      [](const xflow::Graph& graph, const xflow::RuleLibrary& library, double alpha, int32_t budget, const std::string& device,
         const std::optional<std::map<std::string, double>>& cost_table, const py::object& measure, bool fallback_to_analytic,
         int32_t max_locations, double time_limit_seconds, const std::optional<KernelPricer>& kernel_pricer) {
        CostSources sources = MakeSources(device, cost_table, measure, fallback_to_analytic);
        xflow::SearchCost cost = MakeSearchCost(sources, kernel_pricer);
        return ToTuple(xflow::BacktrackingSearch(graph, library, cost, alpha, budget, max_locations, time_limit_seconds));
      },
      py::arg("graph"), py::arg("library"), py::arg("alpha") = 1.05, py::arg("budget") = 1000, py::arg("device") = "h100",
      py::arg("cost_table") = py::none(), py::arg("measure") = py::none(), py::arg("fallback_to_analytic") = false,
      py::arg("max_locations") = xflow::kDefaultMaxLocations, py::arg("time_limit_seconds") = 0.0,
      py::arg("kernel_pricer") = py::none(),
      "TASO's cost-based backtracking search (stops at budget popped graphs or, when time_limit_seconds > 0, "
      "after that much wall time). Returns (best graph, applied rule ids, initial ms, final ms, seconds, "
      "explored graphs, (xfer, location) steps).");
  module.def(
      "rewrite_estimates",
      [](const xflow::Graph& graph, const xflow::RuleLibrary& library, const std::string& device, int32_t max_locations) {
        xflow::SearchCost cost(nullptr, nullptr, &xflow::GetDeviceProfile(device));
        xflow::PricedGraph priced(graph, cost);
        const xflow::Locations locations = xflow::FindLocations(library, graph, max_locations);
        // First pass fills the cost cache the way a search does (building the
        // candidates it cannot price); the second pass reports predictions.
        for (const std::vector<xflow::Rewrite>& rewrites : locations.rewrites) {
          for (const xflow::Rewrite& rewrite : rewrites) {
            if (!priced.Estimate(rewrite, cost).runtime_ms) cost.RuntimeMs(xflow::ApplyRewrite(graph, rewrite));
          }
        }
        py::list estimates;
        for (size_t xfer = 0; xfer < locations.rewrites.size(); ++xfer) {
          for (size_t location = 0; location < locations.rewrites[xfer].size(); ++location) {
            const xflow::RewriteEstimate estimate = priced.Estimate(locations.rewrites[xfer][location], cost);
            estimates.append(py::make_tuple(xfer, location, estimate.hash,
                                            estimate.runtime_ms ? py::cast(*estimate.runtime_ms) : py::none()));
          }
        }
        return py::make_tuple(priced.hash(), priced.runtime_ms(), estimates);
      },
      py::arg("graph"), py::arg("library"), py::arg("device") = "h100", py::arg("max_locations") = xflow::kDefaultMaxLocations,
      "What the searches predict without building candidates: (graph hash, graph runtime ms on the device's roofline, "
      "[(xfer, location, predicted hash of the rewritten graph, predicted runtime ms or None when not predictable)]).");
}
