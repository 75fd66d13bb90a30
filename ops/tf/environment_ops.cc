// XflowObserve and XflowApply: the environment's steps as TF ops, on
// serialized graphs, so a whole rollout can run inside one tf.function.
//
//   XflowObserve(graph) -> nodes, edges, senders, receivers, globals, n_node,
//       n_edge (one graph's GraphsTuple fields), xfer_tuples [N, L, K],
//       location_masks [N, L], xfer_mask [N + 1], and the four cost metrics.
//   XflowApply(graph, xfer, location) -> new_graph, valid, and the new
//       graph's four cost metrics. An invalid pair returns the input graph
//       with valid = false (NO-OP is the caller's business).
//
// Attributes: `rules` (a *.rules file or directory; the Python wrapper passes
// the packaged library), `device` (analytic profile), `max_locations`. The
// rule library is loaded once per kernel instance. All logic is in
// ops/engine (environment.h); these kernels only convert.
#include <memory>
#include <string>

#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/environment.h"
#include "engine/errors.h"
#include "engine/graph.h"
#include "engine/observation.h"
#include "engine/rule.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace xflow_tf {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::tstring;
using tensorflow::shape_inference::InferenceContext;

namespace {

// Loads the library and profile named by the kernel's attributes.
class EngineAttributes {
 public:
  explicit EngineAttributes(OpKernelConstruction* context) {
    std::string rules, device;
    OP_REQUIRES_OK(context, context->GetAttr("rules", &rules));
    OP_REQUIRES_OK(context, context->GetAttr("device", &device));
    OP_REQUIRES_OK(context, context->GetAttr("max_locations", &max_locations_));
    try {
      library_ = std::make_shared<const xflow::RuleLibrary>(xflow::RuleLibrary::Load({rules}));
      profile_ = &xflow::GetDeviceProfile(device);
    } catch (const xflow::EngineError& error) {
      context->CtxFailure(absl::InvalidArgumentError(error.what()));
    }
  }

  const xflow::RuleLibrary& library() const { return *library_; }
  const xflow::DeviceProfile& profile() const { return *profile_; }
  int32_t max_locations() const { return max_locations_; }

 private:
  std::shared_ptr<const xflow::RuleLibrary> library_;
  const xflow::DeviceProfile* profile_ = nullptr;
  int32_t max_locations_ = xflow::kDefaultMaxLocations;
};

template <typename T, typename V>
void Fill(Tensor* tensor, const std::vector<V>& values) {
  auto flat = tensor->flat<T>();
  for (size_t index = 0; index < values.size(); ++index) flat(static_cast<int64_t>(index)) = static_cast<T>(values[index]);
}

void WriteCost(OpKernelContext* context, int first_output, const xflow::GraphCost& cost) {
  Tensor* outputs[4];
  for (int offset = 0; offset < 4; ++offset) {
    OP_REQUIRES_OK(context, context->allocate_output(first_output + offset, TensorShape({}), &outputs[offset]));
  }
  outputs[0]->scalar<double>()() = cost.runtime_ms;
  outputs[1]->scalar<double>()() = cost.flops;
  outputs[2]->scalar<double>()() = cost.mem_access_bytes;
  outputs[3]->scalar<int64_t>()() = cost.kernel_launches;
}

}  // namespace

REGISTER_OP("XflowObserve")
    .Input("graph: string")
    .Attr("rules: string")
    .Attr("device: string = 'h100'")
    .Attr("max_locations: int = 200")
    .Output("nodes: float32")
    .Output("edges: float32")
    .Output("senders: int32")
    .Output("receivers: int32")
    .Output("globals: float32")
    .Output("n_node: int32")
    .Output("n_edge: int32")
    .Output("xfer_tuples: int32")
    .Output("location_masks: bool")
    .Output("xfer_mask: bool")
    .Output("runtime_ms: float64")
    .Output("flops: float64")
    .Output("mem_access_bytes: float64")
    .Output("kernel_launches: int64")
    .SetShapeFn([](InferenceContext* context) {
      tensorflow::shape_inference::ShapeHandle scalar;
      TF_RETURN_IF_ERROR(context->WithRank(context->input(0), 0, &scalar));
      const auto unknown = context->UnknownDim();
      context->set_output(0, context->Matrix(unknown, unknown));
      context->set_output(1, context->Matrix(unknown, xflow::kEdgeFeatureSize));
      context->set_output(2, context->Vector(unknown));
      context->set_output(3, context->Vector(unknown));
      context->set_output(4, context->Matrix(1, xflow::kGlobalFeatureSize));
      context->set_output(5, context->Vector(1));
      context->set_output(6, context->Vector(1));
      context->set_output(7, context->UnknownShapeOfRank(3));
      context->set_output(8, context->UnknownShapeOfRank(2));
      context->set_output(9, context->Vector(unknown));
      for (int output = 10; output < 14; ++output) context->set_output(output, context->Scalar());
      return absl::OkStatus();
    })
    .Doc("The environment's observation of one serialized graph.");

class XflowObserveOp : public OpKernel {
 public:
  explicit XflowObserveOp(OpKernelConstruction* context) : OpKernel(context), engine_(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& input = context->input(0);
    OP_REQUIRES(context, TensorShape({}) == input.shape(),
                absl::InvalidArgumentError("XflowObserve takes one graph (a string scalar), got shape " + input.shape().DebugString()));
    xflow::GraphCost cost;
    xflow::Observation observation;
    int32_t max_pattern_ops = 1;
    try {
      const xflow::Graph graph = xflow::Graph::FromBytes(std::string(input.scalar<tstring>()()));
      cost = xflow::ComputeCost(graph, nullptr, &engine_.profile());
      const xflow::Locations locations = xflow::FindLocations(engine_.library(), graph, engine_.max_locations());
      max_pattern_ops = xflow::MaxPatternOps(engine_.library());
      observation = xflow::Observe(graph, cost, locations, engine_.max_locations(), max_pattern_ops);
    } catch (const xflow::EngineError& error) {
      context->CtxFailure(absl::InvalidArgumentError(std::string("XflowObserve: ") + error.what()));
      return;
    }
    const int64_t nodes = observation.num_nodes, edges = observation.num_edges;
    const int64_t xfers = static_cast<int64_t>(observation.location_counts.size());
    const std::vector<TensorShape> shapes = {
        TensorShape({nodes, xflow::NodeFeatureSize()}), TensorShape({edges, xflow::kEdgeFeatureSize}), TensorShape({edges}),
        TensorShape({edges}), TensorShape({1, xflow::kGlobalFeatureSize}), TensorShape({1}), TensorShape({1}),
        TensorShape({xfers, engine_.max_locations(), max_pattern_ops}), TensorShape({xfers, engine_.max_locations()}),
        TensorShape({xfers + 1})};
    Tensor* outputs[10];
    for (int output = 0; output < 10; ++output) {
      OP_REQUIRES_OK(context, context->allocate_output(output, shapes[static_cast<size_t>(output)], &outputs[output]));
    }
    Fill<float>(outputs[0], observation.nodes);
    Fill<float>(outputs[1], observation.edges);
    Fill<int32_t>(outputs[2], observation.senders);
    Fill<int32_t>(outputs[3], observation.receivers);
    Fill<float>(outputs[4], observation.globals);
    outputs[5]->flat<int32_t>()(0) = observation.num_nodes;
    outputs[6]->flat<int32_t>()(0) = observation.num_edges;
    Fill<int32_t>(outputs[7], observation.xfer_tuples);
    Fill<bool>(outputs[8], observation.location_masks);
    Fill<bool>(outputs[9], observation.xfer_mask);
    WriteCost(context, 10, cost);
  }

 private:
  EngineAttributes engine_;
};

REGISTER_KERNEL_BUILDER(Name("XflowObserve").Device(tensorflow::DEVICE_CPU), XflowObserveOp);

REGISTER_OP("XflowApply")
    .Input("graph: string")
    .Input("xfer: int32")
    .Input("location: int32")
    .Attr("rules: string")
    .Attr("device: string = 'h100'")
    .Attr("max_locations: int = 200")
    .Output("new_graph: string")
    .Output("valid: bool")
    .Output("runtime_ms: float64")
    .Output("flops: float64")
    .Output("mem_access_bytes: float64")
    .Output("kernel_launches: int64")
    .SetShapeFn([](InferenceContext* context) {
      for (int output = 0; output < 6; ++output) context->set_output(output, context->Scalar());
      return absl::OkStatus();
    })
    .Doc("Applies (xfer, location) to one serialized graph; invalid pairs return the graph unchanged.");

class XflowApplyOp : public OpKernel {
 public:
  explicit XflowApplyOp(OpKernelConstruction* context) : OpKernel(context), engine_(context) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& input = context->input(0);
    OP_REQUIRES(context, TensorShape({}) == input.shape() && TensorShape({}) == context->input(1).shape() &&
                             TensorShape({}) == context->input(2).shape(),
                absl::InvalidArgumentError("XflowApply takes scalars: one graph, one xfer id, one location"));
    const int32_t xfer = context->input(1).scalar<int32_t>()();
    const int32_t location = context->input(2).scalar<int32_t>()();
    Tensor* new_graph = nullptr;
    Tensor* valid = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({}), &new_graph));
    OP_REQUIRES_OK(context, context->allocate_output(1, TensorShape({}), &valid));
    try {
      const xflow::Graph graph = xflow::Graph::FromBytes(std::string(input.scalar<tstring>()()));
      auto [result, applied] = xflow::ApplyToGraph(engine_.library(), graph, xfer, location, engine_.max_locations());
      new_graph->scalar<tstring>()() = applied ? result.ToBytes() : std::string(input.scalar<tstring>()());
      valid->scalar<bool>()() = applied;
      WriteCost(context, 2, xflow::ComputeCost(result, nullptr, &engine_.profile()));
    } catch (const xflow::EngineError& error) {
      context->CtxFailure(absl::InvalidArgumentError(std::string("XflowApply: ") + error.what()));
    }
  }

 private:
  EngineAttributes engine_;
};

REGISTER_KERNEL_BUILDER(Name("XflowApply").Device(tensorflow::DEVICE_CPU), XflowApplyOp);

}  // namespace xflow_tf
