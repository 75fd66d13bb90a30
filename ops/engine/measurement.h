// Measurement descriptors: for a graph, one self-contained description per
// DISTINCT cost key of the ops that launch a kernel, enough for Python to
// build and time a single-node ONNX model (rlgraph_xflow/graphs/measure.py).
#ifndef RLGRAPH_XFLOW_ENGINE_MEASUREMENT_H_
#define RLGRAPH_XFLOW_ENGINE_MEASUREMENT_H_

#include <map>
#include <string>
#include <vector>

#include "engine/graph.h"

namespace xflow {

struct MeasurementDescriptor {
  std::string cost_key;
  int32_t op_index = 0;  // the first op with this key
  std::string op_type;   // ONNX op type (an opaque op's original type)
  std::string domain;    // ONNX domain ("" = default)
  Params attributes;     // ONNX attributes (empty for opaque ops: they keep theirs in node_proto)
  std::vector<TensorType> input_types;  // omitted inputs have dtype kUndefined
  std::vector<bool> input_is_weight;    // constant at run time (weights, Constants, foldable ops)
  std::map<int32_t, IntList> constant_int_inputs;
  int32_t num_outputs = 1;
};

std::vector<MeasurementDescriptor> MeasurementDescriptors(const Graph& graph);
// The descriptor of one op (constant as returned by Graph::ConstantOps).
MeasurementDescriptor MeasurementDescriptorOf(const Graph& graph, int32_t index, const std::vector<bool>& constant);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_MEASUREMENT_H_
