// Kernel-level graph pricing (see kernel_cost.h).
#include "engine/kernel_cost.h"

#include <cmath>

#include "engine/errors.h"

namespace xflow {

CachedKernelCost::CachedKernelCost(std::shared_ptr<const KernelCostModel> model, KernelMeasure measure)
    : model_(std::move(model)), measure_(std::move(measure)) {
  if (!model_) throw CostError("kernel pricing needs a kernel cost model");
  if (!(model_->per_kernel_ms >= 0) || !(model_->per_call_ms >= 0)) {
    throw CostError("kernel cost model for '" + model_->device + "': per-kernel and per-call costs must be >= 0 ms");
  }
}

double CachedKernelCost::LookUp(const std::string& key, const std::function<KernelDescriptor()>& describe, const std::string& what) {
  if (const double* stored = model_->table.Find(key)) return *stored;
  if (!measure_) {
    throw CostError(what + ": kernel '" + key + "' is missing from the cost table of device '" + model_->device + "' (" +
                    std::to_string(model_->table.size()) +
                    " kernels); measure it on that device first (python -m rlgraph_xflow.graphs stats MODEL --cost-model measured)");
  }
  const double runtime = measure_(describe());
  if (!(runtime >= 0) || !std::isfinite(runtime)) {
    throw CostError("the kernel measure callback returned " + std::to_string(runtime) + " ms for '" + key +
                    "'; expected a finite number >= 0");
  }
  ++measured_count_;
  return runtime;
}

double CachedKernelCost::KernelRuntimeMs(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  const uint64_t hash = KernelHash(graph, kernel, constant);
  auto cached = by_kernel_hash_.find(hash);
  if (cached != by_kernel_hash_.end()) return cached->second;
  const double runtime = LookUp(KernelKey(graph, kernel, constant), [&] { return KernelDescriptorOf(graph, kernel, constant); },
                                graph.op(kernel.ops.back()).Describe());
  by_kernel_hash_.emplace(hash, runtime);
  return runtime;
}

double CachedKernelCost::ReorderRuntimeMs(const LayoutReorder& reorder) {
  const uint64_t hash = ReorderHash(reorder);
  auto cached = by_reorder_hash_.find(hash);
  if (cached != by_reorder_hash_.end()) return cached->second;
  const double runtime = LookUp(ReorderKey(reorder), [&] { return ReorderDescriptorOf(reorder); }, "a layout copy");
  by_reorder_hash_.emplace(hash, runtime);
  return runtime;
}

GraphCost CachedKernelCost::Price(const Graph& graph) {
  const std::vector<bool> constant = graph.ConstantOps();
  const RuntimeKernels kernels = FindRuntimeKernels(graph, constant);
  std::vector<double> kernel_runtime(kernels.kernels.size());
  for (size_t k = 0; k < kernels.kernels.size(); ++k) {
    kernel_runtime[k] = KernelRuntimeMs(graph, kernels.kernels[k], constant) + model_->per_kernel_ms;
  }
  std::vector<double> copies(static_cast<size_t>(graph.NumOps()), 0.0);
  for (const LayoutReorder& reorder : kernels.reorders) {
    copies[static_cast<size_t>(reorder.op)] += ReorderRuntimeMs(reorder) + model_->per_kernel_ms;
  }
  GraphCost cost;
  cost.runtime_ms = model_->per_call_ms;
  cost.ops.reserve(static_cast<size_t>(graph.NumOps()));
  AddOpCosts(graph, cost, [&](const Op&, OpCost& record) {
    const int32_t index = record.op_index;
    record.metrics = ComputeOpMetrics(graph, index, constant);
    record.metrics.kernel_launches = 0;
    // A fused kernel's runtime is booked once, on its last op.
    const int32_t kernel = kernels.kernel_of_op[static_cast<size_t>(index)];
    if (kernel >= 0 && kernels.kernels[static_cast<size_t>(kernel)].ops.back() == index) {
      record.runtime_ms = kernel_runtime[static_cast<size_t>(kernel)];
      record.metrics.kernel_launches = 1;
    }
    record.runtime_ms += copies[static_cast<size_t>(index)];
  });
  return cost;
}

}  // namespace xflow
