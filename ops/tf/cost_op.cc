// XflowCost: the engine's cost model as a TF op, on serialized graphs.
//
// Input `graph` is a string tensor of any shape, each element the bytes of
// an engine graph (Graph::ToBytes, XflowGraph.to_bytes()). Outputs have the
// same shape: analytic runtime (ms) on the `device` profile, FLOPs, bytes of
// memory access and kernel launches. All logic lives in ops/engine; this
// file only converts tensors and errors.
#include <string>

#include "engine/cost_model.h"
#include "engine/device_profiles.h"
#include "engine/errors.h"
#include "engine/graph.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace xflow_tf {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::tstring;

REGISTER_OP("XflowCost")
    .Input("graph: string")
    .Attr("device: string = 'h100'")
    .Output("runtime_ms: float64")
    .Output("flops: float64")
    .Output("mem_access_bytes: float64")
    .Output("kernel_launches: int64")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* context) {
      for (int output = 0; output < 4; ++output) context->set_output(output, context->input(0));
      return absl::OkStatus();
    })
    .Doc("Prices serialized engine graphs with the analytic cost model.");

class XflowCostOp : public OpKernel {
 public:
  explicit XflowCostOp(OpKernelConstruction* context) : OpKernel(context) {
    std::string device;
    OP_REQUIRES_OK(context, context->GetAttr("device", &device));
    try {
      profile_ = &xflow::GetDeviceProfile(device);
    } catch (const xflow::EngineError& error) {
      context->CtxFailure(absl::InvalidArgumentError(error.what()));
    }
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& graphs = context->input(0);
    Tensor* outputs[4];
    for (int output = 0; output < 4; ++output) {
      OP_REQUIRES_OK(context, context->allocate_output(output, graphs.shape(), &outputs[output]));
    }
    const auto bytes = graphs.flat<tstring>();
    auto runtime = outputs[0]->flat<double>();
    auto flops = outputs[1]->flat<double>();
    auto memory = outputs[2]->flat<double>();
    auto launches = outputs[3]->flat<int64_t>();
    for (int64_t index = 0; index < bytes.size(); ++index) {
      try {
        const xflow::Graph graph = xflow::Graph::FromBytes(std::string(bytes(index)));
        const xflow::GraphCost cost = xflow::ComputeCost(graph, nullptr, profile_);
        runtime(index) = cost.runtime_ms;
        flops(index) = cost.flops;
        memory(index) = cost.mem_access_bytes;
        launches(index) = cost.kernel_launches;
      } catch (const xflow::EngineError& error) {
        context->CtxFailure(absl::InvalidArgumentError("XflowCost, graph " + std::to_string(index) + ": " + error.what()));
        return;
      }
    }
  }

 private:
  const xflow::DeviceProfile* profile_ = nullptr;
};

REGISTER_KERNEL_BUILDER(Name("XflowCost").Device(tensorflow::DEVICE_CPU), XflowCostOp);

}  // namespace xflow_tf
