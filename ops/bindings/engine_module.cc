// pybind11 module rlgraph_xflow.ops._engine: the Python face of the C++
// engine (ops/engine). Conversions only; all logic lives in engine/.
//
// Python conventions: dtypes are names ("float32", "int64", ...); edges are
// (op index, output index) tuples with (-1, 0) for an omitted input; tensor
// types are (dtype, shape) tuples; op parameters are dicts whose values are
// int, float, str/bytes, or lists of ints / floats (an empty list is an int
// list). Engine errors surface as GraphError, SerializationError and
// CostError, all subclasses of EngineError, itself a ValueError.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/errors.h"
#include "engine/graph.h"
#include "engine/measurement.h"
#include "engine/op_registry.h"

namespace py = pybind11;

namespace {

using xflow::Edge;
using xflow::Graph;
using xflow::ParamValue;
using xflow::Params;
using xflow::TensorType;

TensorType ToTensorType(const std::string& dtype, const std::vector<int64_t>& shape) {
  return TensorType{xflow::DataTypeFromName(dtype), shape};
}

py::tuple FromTensorType(const TensorType& type) { return py::make_tuple(xflow::DataTypeName(type.dtype), type.shape); }

std::vector<Edge> ToEdges(const std::vector<std::pair<int32_t, int32_t>>& inputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const auto& [op, output] : inputs) edges.push_back(Edge{op, output});
  return edges;
}

bool IsInteger(const py::handle& value) {
  return py::isinstance<py::int_>(value) || (!py::isinstance<py::float_>(value) && py::hasattr(value, "__index__"));
}

ParamValue ToParamValue(const std::string& key, const py::handle& value) {
  if (IsInteger(value)) return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value) || py::hasattr(value, "__float__")) {
    if (!py::isinstance<py::str>(value)) return value.cast<double>();
  }
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::bytes>(value)) return std::string(value.cast<py::bytes>());
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    const auto sequence = value.cast<py::sequence>();
    bool all_integers = true;
    for (const py::handle item : sequence) all_integers = all_integers && IsInteger(item);
    if (all_integers) return sequence.cast<xflow::IntList>();
    for (const py::handle item : sequence) {
      if (!IsInteger(item) && !py::isinstance<py::float_>(item)) {
        throw xflow::GraphError("parameter '" + key + "': list items must be ints or floats, got " +
                                std::string(py::str(py::type::of(item).attr("__name__"))));
      }
    }
    return sequence.cast<xflow::FloatList>();
  }
  throw xflow::GraphError("parameter '" + key + "' must be int, float, str, bytes or a list of ints/floats, got " +
                          std::string(py::str(py::type::of(value).attr("__name__"))));
}

Params ToParams(const py::dict& params) {
  Params converted;
  for (const auto& [key, value] : params) {
    const auto name = key.cast<std::string>();
    converted[name] = ToParamValue(name, value);
  }
  return converted;
}

py::object FromParamValue(const ParamValue& value) {
  switch (xflow::KindOf(value)) {
    case xflow::ParamKind::kInt:
      return py::int_(std::get<int64_t>(value));
    case xflow::ParamKind::kFloat:
      return py::float_(std::get<double>(value));
    case xflow::ParamKind::kIntList:
      return py::cast(std::get<xflow::IntList>(value));
    case xflow::ParamKind::kFloatList:
      return py::cast(std::get<xflow::FloatList>(value));
    case xflow::ParamKind::kString: {
      const std::string& text = std::get<std::string>(value);
      PyObject* decoded = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr);
      if (decoded == nullptr) {
        PyErr_Clear();
        return py::bytes(text);
      }
      return py::reinterpret_steal<py::object>(decoded);
    }
  }
  return py::none();
}

py::dict FromParams(const Params& params) {
  py::dict converted;
  for (const auto& [key, value] : params) converted[py::str(key)] = FromParamValue(value);
  return converted;
}

py::dict OpToDict(const Graph& graph, int32_t index) {
  if (index < 0 || index >= graph.NumOps()) {
    throw py::index_error("op index " + std::to_string(index) + " out of range for a graph of " +
                          std::to_string(graph.NumOps()) + " ops");
  }
  const xflow::Op& op = graph.op(index);
  py::dict result;
  result["index"] = index;
  result["name"] = op.name;
  result["type"] = op.type;
  result["params"] = FromParams(op.params);
  py::list inputs;
  for (const Edge& edge : op.inputs) inputs.append(py::make_tuple(edge.op, edge.output));
  result["inputs"] = inputs;
  py::list outputs;
  for (const TensorType& type : op.outputs) outputs.append(FromTensorType(type));
  result["output_types"] = outputs;
  result["output_names"] = op.output_names;
  return result;
}

py::dict CostBreakdownToDict(const Graph& graph, const xflow::GraphCost& cost) {
  py::dict result;
  result["runtime_ms"] = cost.runtime_ms;
  result["flops"] = cost.flops;
  result["mem_access_bytes"] = cost.mem_access_bytes;
  result["kernel_launches"] = cost.kernel_launches;
  py::list ops;
  for (const xflow::OpCost& record : cost.ops) {
    const xflow::Op& op = graph.op(record.op_index);
    py::dict entry;
    entry["op_index"] = record.op_index;
    entry["name"] = op.name;
    entry["type"] = op.type;
    entry["cost_key"] = record.cost_key;
    entry["runtime_ms"] = record.runtime_ms;
    entry["flops"] = record.metrics.flops;
    entry["mem_access_bytes"] = record.metrics.bytes;
    entry["kernel_launches"] = record.metrics.kernel_launches;
    ops.append(entry);
  }
  result["ops"] = ops;
  return result;
}

py::dict Cost(const Graph& graph, const std::optional<std::string>& device,
              const std::optional<std::map<std::string, double>>& cost_table) {
  xflow::CostTable table;
  if (cost_table) {
    for (const auto& [key, runtime_ms] : *cost_table) table.Set(key, runtime_ms);
  }
  const xflow::DeviceProfile* profile = device ? &xflow::GetDeviceProfile(*device) : nullptr;
  const xflow::GraphCost cost = xflow::ComputeCost(graph, cost_table ? &table : nullptr, profile);
  return CostBreakdownToDict(graph, cost);
}

py::list Descriptors(const Graph& graph) {
  py::list result;
  for (const xflow::MeasurementDescriptor& descriptor : xflow::MeasurementDescriptors(graph)) {
    result.append(MeasurementDescriptorToDict(descriptor));
  }
  return result;
}

py::dict DeviceProfiles() {
  py::dict result;
  for (const std::string& name : xflow::DeviceProfileNames()) {
    const xflow::DeviceProfile& profile = xflow::GetDeviceProfile(name);
    py::dict entry;
    entry["description"] = profile.description;
    entry["peak_flops_per_second"] = profile.peak_flops_per_second;
    entry["bandwidth_bytes_per_second"] = profile.bandwidth_bytes_per_second;
    entry["launch_overhead_ms"] = profile.launch_overhead_ms;
    result[py::str(name)] = entry;
  }
  return result;
}

}  // namespace

py::dict CostToDict(const Graph& graph, const xflow::GraphCost& cost) { return CostBreakdownToDict(graph, cost); }

py::dict MeasurementDescriptorToDict(const xflow::MeasurementDescriptor& descriptor) {
  py::dict entry;
  entry["cost_key"] = descriptor.cost_key;
  entry["op_index"] = descriptor.op_index;
  entry["op_type"] = descriptor.op_type;
  entry["domain"] = descriptor.domain;
  entry["attributes"] = FromParams(descriptor.attributes);
  py::list shapes;
  py::list dtypes;
  for (const TensorType& type : descriptor.input_types) {
    shapes.append(py::cast(type.shape));
    dtypes.append(type.dtype == xflow::DataType::kUndefined ? std::string() : xflow::DataTypeName(type.dtype));
  }
  entry["input_shapes"] = shapes;
  entry["input_dtypes"] = dtypes;
  entry["input_is_weight"] = py::cast(descriptor.input_is_weight);
  py::dict constants;
  for (const auto& [input_index, values] : descriptor.constant_int_inputs) constants[py::int_(input_index)] = values;
  entry["constant_int_inputs"] = constants;
  entry["num_outputs"] = descriptor.num_outputs;
  return entry;
}


PYBIND11_MODULE(_engine, m) {
  m.doc() = "C++ graph engine: IR, op registry, shape inference, hash, serialization, cost model.";

  auto engine_error = py::register_exception<xflow::EngineError>(m, "EngineError", PyExc_ValueError);
  py::register_exception<xflow::GraphError>(m, "GraphError", engine_error.ptr());
  py::register_exception<xflow::SerializationError>(m, "SerializationError", engine_error.ptr());
  py::register_exception<xflow::CostError>(m, "CostError", engine_error.ptr());
  RegisterRuleBindings(m, engine_error);
  RegisterSearchBindings(m);
  RegisterEnvironmentBindings(m);

  m.attr("MAX_INT_VALUES") = xflow::kMaxIntValues;
  m.def("supported_op_types", &xflow::SupportedOpTypes, "Every modelled ONNX op type, sorted.");
  m.def("constant_int_inputs", [](const std::string& op_type) {
    const xflow::OpDefinition* definition = xflow::FindOpDefinition(op_type);
    if (definition == nullptr) throw xflow::GraphError("unknown op type '" + op_type + "'");
    return definition->constant_int_inputs;
  }, py::arg("op_type"), "Input indices whose constant integer values shape inference of op_type reads.");
  m.def("device_profiles", &DeviceProfiles, "The analytic cost model's device profiles by name.");
  m.def("dtype_name", [](int32_t onnx_code) { return xflow::DataTypeName(xflow::DataTypeFromOnnxCode(onnx_code)); },
        py::arg("onnx_code"), "Engine dtype name of an ONNX TensorProto element type code.");
  m.def("onnx_dtype_code", [](const std::string& name) { return static_cast<int32_t>(xflow::DataTypeFromName(name)); },
        py::arg("name"), "ONNX TensorProto element type code of an engine dtype name.");

  py::class_<Graph>(m, "Graph", "A computation graph: ops in topological order plus ordered graph outputs.")
      .def(py::init<>())
      .def("add_input", [](Graph& graph, const std::string& name, const std::string& dtype,
                           const std::vector<int64_t>& shape) { return graph.AddInput(name, ToTensorType(dtype, shape)); },
           py::arg("name"), py::arg("dtype"), py::arg("shape"))
      .def("add_weight", [](Graph& graph, const std::string& name, const std::string& dtype,
                            const std::vector<int64_t>& shape, const std::optional<xflow::IntList>& int_values) {
             return graph.AddWeight(name, ToTensorType(dtype, shape), int_values ? &*int_values : nullptr);
           }, py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("int_values") = py::none())
      .def("add_constant", [](Graph& graph, const std::string& name, const std::string& dtype,
                              const std::vector<int64_t>& shape, const std::optional<xflow::IntList>& int_values) {
             return graph.AddConstant(name, ToTensorType(dtype, shape), int_values ? &*int_values : nullptr);
           }, py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("int_values") = py::none())
      .def("add_op", [](Graph& graph, const std::string& op_type, const std::string& name,
                        const std::vector<std::pair<int32_t, int32_t>>& inputs, const py::dict& params,
                        int32_t num_outputs, std::vector<std::string> output_names) {
             return graph.AddOp(op_type, name, ToParams(params), ToEdges(inputs), num_outputs, std::move(output_names));
           }, py::arg("op_type"), py::arg("name"), py::arg("inputs"), py::arg("params") = py::dict(),
           py::arg("num_outputs") = 1, py::arg("output_names") = std::vector<std::string>())
      .def("add_opaque", [](Graph& graph, const std::string& name, const std::string& onnx_op_type,
                            const std::string& domain, const py::bytes& node_proto,
                            const std::vector<std::pair<int32_t, int32_t>>& inputs,
                            const std::vector<std::pair<std::string, std::vector<int64_t>>>& output_types,
                            std::vector<std::string> output_names) {
             std::vector<TensorType> types;
             for (const auto& [dtype, shape] : output_types) types.push_back(ToTensorType(dtype, shape));
             return graph.AddOpaque(name, onnx_op_type, domain, std::string(node_proto), ToEdges(inputs),
                                    std::move(types), std::move(output_names));
           }, py::arg("name"), py::arg("onnx_op_type"), py::arg("domain"), py::arg("node_proto"), py::arg("inputs"),
           py::arg("output_types"), py::arg("output_names") = std::vector<std::string>())
      .def("set_outputs", [](Graph& graph, const std::vector<std::tuple<int32_t, int32_t, std::string>>& outputs) {
             std::vector<xflow::GraphOutput> converted;
             for (const auto& [op, output, name] : outputs) converted.push_back({Edge{op, output}, name});
             graph.SetOutputs(std::move(converted));
           }, py::arg("outputs"), "Sets the ordered graph outputs as (op index, output index, name) tuples.")
      .def_property_readonly("outputs", [](const Graph& graph) {
             py::list outputs;
             for (const xflow::GraphOutput& output : graph.outputs()) {
               outputs.append(py::make_tuple(output.edge.op, output.edge.output, output.name));
             }
             return outputs;
           })
      .def_property_readonly("num_ops", &Graph::NumOps)
      .def("__len__", &Graph::NumOps)
      .def("op", &OpToDict, py::arg("index"), "The op at index as a dict.")
      .def("ops", [](const Graph& graph) {
             py::list ops;
             for (int32_t i = 0; i < graph.NumOps(); ++i) ops.append(OpToDict(graph, i));
             return ops;
           })
      .def("find_op", &Graph::FindOp, py::arg("name"), "Index of the op with this name, or -1.")
      .def("opaque_node_proto", [](const Graph& graph, int32_t index) {
             OpToDict(graph, index);  // bounds check with a clear IndexError
             if (graph.op(index).type != xflow::kOpaqueOp) {
               throw xflow::GraphError(graph.op(index).Describe() + " is not an opaque op");
             }
             return py::bytes(std::get<std::string>(graph.op(index).params.at("node_proto")));
           }, py::arg("index"))
      .def("constant_ops", &Graph::ConstantOps, "Per op: true when its value is known before run time.")
      .def("hash", &Graph::Hash, "Canonical 64-bit content hash.")
      .def("op_hashes", &Graph::OpHashes)
      .def("to_bytes", [](const Graph& graph) { return py::bytes(graph.ToBytes()); })
      .def_static("from_bytes", [](const py::bytes& data) { return Graph::FromBytes(std::string(data)); },
                  py::arg("data"))
      .def("copy", [](const Graph& graph) { return Graph(graph); }, "A copy sharing the (immutable) ops.")
      .def("cost_key", [](const Graph& graph, int32_t index) {
             OpToDict(graph, index);  // bounds check with a clear IndexError
             return xflow::CostKey(graph, index, graph.ConstantOps());
           }, py::arg("index"))
      .def("cost", &Cost, py::arg("device") = py::none(), py::arg("cost_table") = py::none(),
           "Prices the graph. device alone: analytic roofline; cost_table alone: measured runtimes (a missing "
           "key raises CostError); both: the table with analytic fallback.")
      .def("measurement_descriptors", &Descriptors,
           "One descriptor per distinct cost key of the ops that launch a kernel.");
  // Adds methods to Graph, so it runs after Graph is bound.
  RegisterKernelCostBindings(m);
}
