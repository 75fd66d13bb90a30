// Pricing a graph by the kernels its runtime launches (runtime_kernels.h).
//
//   KernelCostModel  a measured table of kernel runtimes (ms) by KernelKey,
//                    for one device, plus the runtime's fixed costs: per
//                    launched kernel (dispatch) and per inference call.
//   KernelMeasure    times a kernel the table lacks (Python's measured
//                    provider builds and runs it in onnxruntime).
//   CachedKernelCost prices graphs with a model, remembering each kernel
//                    configuration's runtime by KernelHash, so after the
//                    first graphs a price is one partition and one lookup
//                    per kernel.
//
// A graph's runtime is the sum of its kernels' runtimes, plus the dispatch
// cost per kernel, plus its layout copies (runtime_kernels.h), plus the
// per-call cost. A layout copy's cost is booked to the op it belongs to. In the per-op breakdown a
// kernel's runtime (with its dispatch) sits on its last member, which
// produces the kernel's output; the other members cost 0 and count no
// launch, since the runtime does not launch them.
#ifndef RLGRAPH_XFLOW_ENGINE_KERNEL_COST_H_
#define RLGRAPH_XFLOW_ENGINE_KERNEL_COST_H_

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/cost_model.h"
#include "engine/graph.h"
#include "engine/runtime_kernels.h"

namespace xflow {

struct KernelCostModel {
  std::string device;
  CostTable table;
  double per_kernel_ms = 0;
  double per_call_ms = 0;
};

using KernelMeasure = std::function<double(const KernelDescriptor&)>;

class CachedKernelCost {
 public:
  // measure may be empty: a kernel missing from the table is then a
  // CostError naming its key and the device.
  CachedKernelCost(std::shared_ptr<const KernelCostModel> model, KernelMeasure measure);

  GraphCost Price(const Graph& graph);
  double RuntimeMs(const Graph& graph) { return Price(graph).runtime_ms; }
  const KernelCostModel& model() const { return *model_; }
  int64_t measured_count() const { return measured_count_; }

 private:
  double KernelRuntimeMs(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant);
  double ReorderRuntimeMs(const LayoutReorder& reorder);
  // The table's runtime for a key, else the measured one; CostError naming `what` when neither exists.
  double LookUp(const std::string& key, const std::function<KernelDescriptor()>& describe, const std::string& what);

  std::shared_ptr<const KernelCostModel> model_;
  KernelMeasure measure_;
  std::unordered_map<uint64_t, double> by_kernel_hash_;
  std::unordered_map<uint64_t, double> by_reorder_hash_;
  int64_t measured_count_ = 0;
};

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_KERNEL_COST_H_
