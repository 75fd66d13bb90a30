// Python face of the substitution rules: RuleLibrary (load, names, rule
// text, examples), Locations, and apply. Registered into _engine by
// engine_module.cc; conversions only, all logic lives in engine/.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "engine/errors.h"
#include "engine/rule.h"
#include "engine/substitution.h"

namespace py = pybind11;

namespace {

using xflow::Graph;
using xflow::RuleLibrary;

xflow::RuleLibrary LoadLibrary(const py::object& paths) {
  std::vector<std::string> converted;
  if (py::isinstance<py::str>(paths) || py::hasattr(paths, "__fspath__")) {
    converted.push_back(py::str(py::module_::import("os").attr("fspath")(paths)).cast<std::string>());
  } else {
    for (const py::handle item : paths) converted.push_back(py::str(py::module_::import("os").attr("fspath")(item)).cast<std::string>());
  }
  return RuleLibrary::Load(converted);
}

py::list ExampleTensors(const RuleLibrary& library, int32_t xfer, int32_t example) {
  const xflow::Rule& rule = library.rule(xfer);
  if (example < 0 || example >= static_cast<int32_t>(rule.examples.size())) {
    throw xflow::RuleError(rule.Where() + ": example " + std::to_string(example) + " does not exist (the rule has " +
                           std::to_string(rule.examples.size()) + ")");
  }
  py::list tensors;
  for (const xflow::ExampleTensor& tensor : rule.examples[static_cast<size_t>(example)].tensors) {
    py::dict entry;
    entry["name"] = rule.variables[static_cast<size_t>(tensor.variable)];
    entry["kind"] = tensor.kind;
    entry["dtype"] = xflow::DataTypeName(tensor.type.dtype);
    entry["shape"] = tensor.type.shape;
    entry["values"] = tensor.has_values ? py::cast(tensor.values) : py::none();
    tensors.append(entry);
  }
  return tensors;
}

}  // namespace

void RegisterRuleBindings(py::module_& module, const py::object& engine_error) {
  py::register_exception<xflow::RuleError>(module, "RuleError", engine_error.ptr());
  py::register_exception<xflow::ApplyError>(module, "ApplyError", engine_error.ptr());
  module.attr("DEFAULT_MAX_LOCATIONS") = xflow::kDefaultMaxLocations;

  py::class_<xflow::Locations>(module, "Locations",
                               "Every xfer's locations in a graph: counts[i] valid locations for xfer i (masks are "
                               "prefixes) and, per location, the matched graph op indices in source pattern order.")
      .def_property_readonly("counts", [](const xflow::Locations& locations) { return locations.counts; })
      .def_property_readonly("descriptors", &xflow::Locations::Descriptors)
      .def("__len__", [](const xflow::Locations& locations) { return locations.counts.size(); });

  py::class_<RuleLibrary>(module, "RuleLibrary", "The substitution rules (xfers), indexed by xfer id in load order.")
      .def_static("load", &LoadLibrary, py::arg("paths"),
                  "Loads a *.rules file, a directory of them, or a list of either; every rule is validated and its "
                  "examples must match and apply (RuleError names file, line and rule id).")
      .def_static("from_text", &RuleLibrary::FromText, py::arg("text"), py::arg("file") = "<text>",
                  "Parses and validates rules from a string; `file` labels errors.")
      .def("__len__", &RuleLibrary::size)
      .def_property_readonly("size", &RuleLibrary::size)
      .def_property_readonly("names", [](const RuleLibrary& library) {
             std::vector<std::string> names;
             for (const xflow::Rule& rule : library.rules()) names.push_back(rule.id);
             return names;
           }, "Rule ids in xfer id order.")
      .def("find", &RuleLibrary::Find, py::arg("name"), "Xfer id of the rule named `name`, or -1.")
      .def("rule_name", [](const RuleLibrary& library, int32_t xfer) { return library.rule(xfer).id; }, py::arg("xfer_id"))
      .def("rule_family", [](const RuleLibrary& library, int32_t xfer) { return library.rule(xfer).family; }, py::arg("xfer_id"))
      .def("rule_doc", [](const RuleLibrary& library, int32_t xfer) { return library.rule(xfer).doc; }, py::arg("xfer_id"))
      .def("rule_source", [](const RuleLibrary& library, int32_t xfer) {
             const xflow::Rule& rule = library.rule(xfer);
             return py::make_tuple(rule.file, rule.line, rule.text);
           }, py::arg("xfer_id"), "(file, line, text) of the rule's definition.")
      .def("num_examples", [](const RuleLibrary& library, int32_t xfer) {
             return static_cast<int32_t>(library.rule(xfer).examples.size());
           }, py::arg("xfer_id"))
      .def("example_graph", [](const RuleLibrary& library, int32_t xfer, int32_t example) {
             return xflow::InstantiateExample(library.rule(xfer), example);
           }, py::arg("xfer_id"), py::arg("example"),
           "The rule's source pattern built on example `example`: variables are graph inputs / weights named after "
           "the variable, mapped source outputs are the graph outputs.")
      .def("example_tensors", &ExampleTensors, py::arg("xfer_id"), py::arg("example"),
           "The example's variables: dicts with name, kind (input/weight/positive), dtype, shape, values.")
      .def("locations", [](const RuleLibrary& library, const Graph& graph, int32_t max_locations) {
             return xflow::FindLocations(library, graph, max_locations);
           }, py::arg("graph"), py::arg("max_locations") = xflow::kDefaultMaxLocations,
           "Every valid, deduplicated location of every xfer, capped at max_locations per xfer.")
      .def("apply", [](const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location, int32_t max_locations) {
             return xflow::ApplyLocation(library, graph, xfer, location, max_locations);
           }, py::arg("graph"), py::arg("xfer_id"), py::arg("location_id"),
           py::arg("max_locations") = xflow::kDefaultMaxLocations,
           "The graph with location `location_id` of xfer `xfer_id` rewritten; ApplyError for ids out of range.");
}
