// Python face of the runtime's kernel partition and kernel pricing
// (engine/runtime_kernels.h, engine/kernel_cost.h): Graph.runtime_kernels,
// Graph.kernel_descriptors and the KernelPricer class. Registered into
// _engine by engine_module.cc; conversions only.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "engine/errors.h"
#include "engine/kernel_cost.h"
#include "engine/runtime_kernels.h"

namespace py = pybind11;

namespace {

py::dict KernelDescriptorToDict(const xflow::KernelDescriptor& descriptor) {
  py::dict entry;
  entry["kernel_key"] = descriptor.kernel_key;
  py::list members;
  for (const xflow::MeasurementDescriptor& member : descriptor.members) members.append(MeasurementDescriptorToDict(member));
  entry["members"] = members;
  entry["fused_activation"] = descriptor.fused_activation;
  py::list wiring;
  for (const auto& inputs : descriptor.member_inputs) {
    py::list converted;
    for (const auto& [member, output] : inputs) converted.append(py::make_tuple(member, output));
    wiring.append(converted);
  }
  entry["member_inputs"] = wiring;
  if (!descriptor.reorder.empty()) {
    entry["reorder"] = descriptor.reorder;
    entry["reorder_shape"] = descriptor.reorder_type.shape;
    entry["reorder_dtype"] = xflow::DataTypeName(descriptor.reorder_type.dtype);
  }
  return entry;
}

}  // namespace

void RegisterKernelCostBindings(py::module_& module) {
  py::class_<xflow::Graph> graph = py::reinterpret_borrow<py::class_<xflow::Graph>>(module.attr("Graph"));
  graph.def(
      "runtime_kernels",
      [](const xflow::Graph& self) {
        const xflow::RuntimeKernels kernels = xflow::FindRuntimeKernels(self, self.ConstantOps());
        std::vector<std::vector<int32_t>> members;
        for (const xflow::RuntimeKernel& kernel : kernels.kernels) members.push_back(kernel.ops);
        return members;
      },
      "The kernels onnxruntime's CPU provider runs for this graph: each a list of op indices (graph order).");
  graph.def(
      "runtime_reorders",
      [](const xflow::Graph& self) {
        const xflow::RuntimeKernels kernels = xflow::FindRuntimeKernels(self, self.ConstantOps());
        py::list copies;
        for (const xflow::LayoutReorder& reorder : kernels.reorders) {
          copies.append(py::make_tuple(reorder.to_blocked ? "ReorderInput" : "ReorderOutput", reorder.op,
                                       xflow::TensorTypeToString(reorder.type)));
        }
        return copies;
      },
      "The layout copies onnxruntime's CPU provider adds to this graph: (ReorderInput or ReorderOutput, the op "
      "whose cost carries it, the tensor type copied).");
  graph.def(
      "kernel_descriptors",
      [](const xflow::Graph& self) {
        py::list result;
        for (const xflow::KernelDescriptor& descriptor : xflow::KernelDescriptors(self)) result.append(KernelDescriptorToDict(descriptor));
        return result;
      },
      "One descriptor per distinct kernel configuration: kernel_key, members (op descriptors), fused_activation, "
      "member_inputs ((member, output) or (-1, -1) per input).");

  py::class_<xflow::CachedKernelCost, KernelPricer>(
      module, "KernelPricer",
      "Prices graphs by the kernels their runtime launches, from a measured table; kernels the table lacks are "
      "measured by the callback (or are a CostError when there is none). Caches by kernel configuration.")
      .def(py::init([](const std::string& device, const std::map<std::string, double>& table, double per_kernel_ms,
                       double per_call_ms, const py::object& measure) {
             auto model = std::make_shared<xflow::KernelCostModel>();
             model->device = device;
             for (const auto& [key, runtime] : table) model->table.Set(key, runtime);
             model->per_kernel_ms = per_kernel_ms;
             model->per_call_ms = per_call_ms;
             xflow::KernelMeasure callback;
             if (!measure.is_none()) {
               if (!PyCallable_Check(measure.ptr())) throw xflow::CostError("measure must be callable(kernel descriptor) -> ms or None");
               callback = [measure](const xflow::KernelDescriptor& descriptor) {
                 return measure(KernelDescriptorToDict(descriptor)).cast<double>();
               };
             }
             return std::make_shared<xflow::CachedKernelCost>(std::move(model), std::move(callback));
           }),
           py::arg("device"), py::arg("table"), py::arg("per_kernel_ms"), py::arg("per_call_ms"), py::arg("measure") = py::none())
      .def("price", [](xflow::CachedKernelCost& self, const xflow::Graph& graph) { return CostToDict(graph, self.Price(graph)); },
           py::arg("graph"), "The graph's cost dict (runtime_ms, flops, mem_access_bytes, kernel_launches, ops).")
      .def("runtime_ms", &xflow::CachedKernelCost::RuntimeMs, py::arg("graph"))
      .def_property_readonly("device", [](const xflow::CachedKernelCost& self) { return self.model().device; })
      .def_property_readonly("per_kernel_ms", [](const xflow::CachedKernelCost& self) { return self.model().per_kernel_ms; })
      .def_property_readonly("per_call_ms", [](const xflow::CachedKernelCost& self) { return self.model().per_call_ms; })
      .def_property_readonly("measured_count", &xflow::CachedKernelCost::measured_count,
                             "Kernels this pricer has had measured (table misses).");
}
