// Python face of the RL environment's state machine and observation
// (engine/environment.h, engine/observation.h). Registered into _engine by
// engine_module.cc; conversions only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings/bindings.h"
#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/environment.h"
#include "engine/errors.h"
#include "engine/observation.h"

namespace py = pybind11;

namespace {

// The arrays take over the observation's buffers (no copy: xfer_tuples alone
// is num_xfers * max_locations * max_pattern_ops ints every step).
template <typename T>
py::array MoveToArray(std::vector<T>&& values, std::vector<py::ssize_t> shape, const py::dtype& dtype) {
  if (values.empty()) return py::array(dtype, shape);
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule owner(owned, [](void* pointer) { delete static_cast<std::vector<T>*>(pointer); });
  return py::array(dtype, shape, owned->data(), owner);
}

template <typename T>
py::array MoveToArray(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  return MoveToArray(std::move(values), std::move(shape), py::dtype::of<T>());
}

py::dict ObservationToDict(xflow::Observation observation, int32_t max_locations, int32_t max_pattern_ops) {
  const py::ssize_t nodes = observation.num_nodes;
  const py::ssize_t edges = observation.num_edges;
  const py::ssize_t xfers = static_cast<py::ssize_t>(observation.location_counts.size());
  py::dict result;
  result["nodes"] = MoveToArray(std::move(observation.nodes), {nodes, xflow::NodeFeatureSize()});
  result["edges"] = MoveToArray(std::move(observation.edges), {edges, xflow::kEdgeFeatureSize});
  result["senders"] = MoveToArray(std::move(observation.senders), {edges});
  result["receivers"] = MoveToArray(std::move(observation.receivers), {edges});
  result["globals"] = MoveToArray(std::move(observation.globals), {xflow::kGlobalFeatureSize});
  result["xfer_tuples"] = MoveToArray(std::move(observation.xfer_tuples), {xfers, max_locations, max_pattern_ops});
  result["location_masks"] = MoveToArray(std::move(observation.location_masks), {xfers, max_locations}, py::dtype("bool"));
  result["xfer_mask"] = MoveToArray(std::move(observation.xfer_mask), {xfers + 1}, py::dtype("bool"));
  result["location_counts"] = MoveToArray(std::move(observation.location_counts), {xfers});
  return result;
}

constexpr const char* kDefaultDevice = "h100";

// A device profile and a kernel pricer are two ways to price; giving both is
// a mistake the caller should hear about rather than one silently ignored.
void CheckOneCostSource(const char* where, const std::optional<std::string>& device,
                        const std::optional<KernelPricer>& kernel_pricer) {
  if (device && kernel_pricer) {
    throw xflow::CostError(std::string(where) + ": give either device='" + *device + "' (analytic costs) or kernel_pricer (for '" +
                           (*kernel_pricer)->model().device + "'), not both");
  }
}

py::dict CostToDict(const xflow::GraphCost& cost) {
  py::dict result;
  result["runtime_ms"] = cost.runtime_ms;
  result["flops"] = cost.flops;
  result["mem_access_bytes"] = cost.mem_access_bytes;
  result["kernel_launches"] = cost.kernel_launches;
  return result;
}

}  // namespace

void RegisterEnvironmentBindings(py::module_& module) {
  module.def("node_type_vocabulary", &xflow::NodeTypeVocabulary,
             "Op types of the node one-hot, in feature order (modelled types, then Input, Weight, Constant, Opaque).");
  module.def("node_feature_size", &xflow::NodeFeatureSize, "Node feature width: the one-hot plus one runtime feature.");
  module.def("max_pattern_ops", &xflow::MaxPatternOps, py::arg("library"), "K: the most source ops any rule matches.");
  module.def(
      "observe_graph",
      [](const xflow::RuleLibrary& library, const xflow::Graph& graph, const std::optional<std::string>& device,
         int32_t max_locations, const std::optional<KernelPricer>& kernel_pricer) {
        CheckOneCostSource("observe_graph", device, kernel_pricer);
        xflow::Observation observation =
            kernel_pricer ? xflow::ObserveGraph(library, graph, **kernel_pricer, max_locations)
                          : xflow::ObserveGraph(library, graph, xflow::GetDeviceProfile(device.value_or(kDefaultDevice)),
                                                max_locations);
        return ObservationToDict(std::move(observation), max_locations, xflow::MaxPatternOps(library));
      },
      py::arg("library"), py::arg("graph"), py::arg("device") = py::none(), py::arg("max_locations") = xflow::kDefaultMaxLocations,
      py::arg("kernel_pricer") = py::none(),
      "The observation of a graph (stateless; see EnvironmentState.observe), priced by the analytic profile `device` "
      "(default h100) or by kernel_pricer (a KernelPricer). The TF op xflow_observe prices analytically only.");

  py::class_<xflow::EnvironmentState>(
      module, "EnvironmentState",
      "One episode's graph with its cost and locations, computed once per graph. Costs come from the analytic profile "
      "`device` (default h100) or, with kernel_pricer (a KernelPricer, shared with other environments and searches), "
      "from the runtime's kernels; then reset and apply raise CostError for a kernel the pricer cannot price, and "
      "change nothing.")
      .def(py::init([](const xflow::RuleLibrary& library, const std::optional<std::string>& device, int32_t max_locations,
                       const std::optional<KernelPricer>& kernel_pricer) {
             CheckOneCostSource("EnvironmentState", device, kernel_pricer);
             auto shared_library = std::make_shared<const xflow::RuleLibrary>(library);
             if (kernel_pricer) {
               return std::make_unique<xflow::EnvironmentState>(std::move(shared_library), *kernel_pricer, max_locations);
             }
             const xflow::DeviceProfile& profile = xflow::GetDeviceProfile(device.value_or(kDefaultDevice));
             return std::make_unique<xflow::EnvironmentState>(std::move(shared_library), profile, max_locations);
           }),
           py::arg("library"), py::arg("device") = py::none(), py::arg("max_locations") = xflow::kDefaultMaxLocations,
           py::arg("kernel_pricer") = py::none())
      .def("reset", &xflow::EnvironmentState::Reset, py::arg("graph"),
           "Starts an episode from a graph (copied); CostError (and no change) when it cannot be priced.")
      .def("apply", &xflow::EnvironmentState::Apply, py::arg("xfer"), py::arg("location"),
           "Applies a valid (xfer, location) and returns True; returns False and changes nothing otherwise. CostError "
           "(and no change) when the new graph cannot be priced.")
      .def("observe",
           [](const xflow::EnvironmentState& state) {
             return ObservationToDict(state.Observe(), state.max_locations(), state.max_pattern_ops());
           },
           "The observation: GraphsTuple fields and the action masks, as numpy arrays.")
      .def("graph", [](const xflow::EnvironmentState& state) { return state.graph(); }, "A copy of the current graph.")
      .def("graph_hash", [](const xflow::EnvironmentState& state) { return state.graph().Hash(); },
           "The current graph's canonical content hash (Graph.hash), without copying it.")
      .def("cost", [](const xflow::EnvironmentState& state) { return CostToDict(state.cost()); },
           "The current graph's four cost metrics.")
      .def("location_counts", [](const xflow::EnvironmentState& state) { return state.locations().counts; })
      .def_property_readonly("kernel_pricer", [](const xflow::EnvironmentState& state) -> std::optional<KernelPricer> {
        if (!state.kernel_pricer()) return std::nullopt;
        return state.kernel_pricer();
      }, "The KernelPricer the state prices with, or None when costs are analytic.")
      .def_property_readonly("max_locations", &xflow::EnvironmentState::max_locations)
      .def_property_readonly("max_pattern_ops", &xflow::EnvironmentState::max_pattern_ops);
}
