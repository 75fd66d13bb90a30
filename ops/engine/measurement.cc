// Measurement descriptors (see measurement.h).
#include "engine/measurement.h"

#include <unordered_set>

#include "engine/cost_model.h"

namespace xflow {

std::vector<MeasurementDescriptor> MeasurementDescriptors(const Graph& graph) {
  const std::vector<bool> constant = graph.ConstantOps();
  std::vector<MeasurementDescriptor> descriptors;
  std::unordered_set<std::string> seen;
  for (int32_t index = 0; index < graph.NumOps(); ++index) {
    if (ComputeOpMetrics(graph, index, constant).kernel_launches == 0) continue;
    const std::string key = CostKey(graph, index, constant);
    if (!seen.insert(key).second) continue;
    descriptors.push_back(MeasurementDescriptorOf(graph, index, constant));
  }
  return descriptors;
}

MeasurementDescriptor MeasurementDescriptorOf(const Graph& graph, int32_t index, const std::vector<bool>& constant) {
  {
    const Op& op = graph.op(index);
    MeasurementDescriptor descriptor;
    descriptor.cost_key = CostKey(graph, index, constant);
    descriptor.op_index = index;
    if (op.type == kOpaqueOp) {
      descriptor.op_type = std::get<std::string>(op.params.at("onnx_op_type"));
      descriptor.domain = std::get<std::string>(op.params.at("onnx_domain"));
    } else {
      descriptor.op_type = op.type;
      descriptor.attributes = op.params;
      // The fused activation is engine-only (see ops_conv.cc): time the Conv.
      if (op.type == "Conv") descriptor.attributes.erase("activation");
    }
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const Edge& edge = op.inputs[i];
      if (edge.IsMissing()) {
        descriptor.input_types.push_back(TensorType{DataType::kUndefined, {}});
        descriptor.input_is_weight.push_back(false);
        continue;
      }
      descriptor.input_types.push_back(graph.TypeOf(edge));
      descriptor.input_is_weight.push_back(constant[static_cast<size_t>(edge.op)]);
      if (const IntList* values = graph.IntValuesOf(edge)) {
        descriptor.constant_int_inputs[static_cast<int32_t>(i)] = *values;
      }
    }
    descriptor.num_outputs = static_cast<int32_t>(op.outputs.size());
    return descriptor;
  }
}

}  // namespace xflow
