// Pricing graphs for search (see search_cost.h).
#include "engine/search_cost.h"

#include <string>
#include <utility>
#include <vector>

#include "engine/errors.h"

namespace xflow {

SearchCost::SearchCost(const CostTable* table, Measure measure, const DeviceProfile* analytic)
    : table_(table), measure_(std::move(measure)), analytic_(analytic) {
  if (table_ == nullptr && !measure_ && analytic_ == nullptr) {
    throw CostError("search needs a cost source: a device profile, a measured cost table, or a measure callback");
  }
}

SearchCost::SearchCost(std::shared_ptr<CachedKernelCost> kernels)
    : table_(nullptr), analytic_(nullptr), kernels_(std::move(kernels)) {
  if (!kernels_) throw CostError("kernel pricing for search needs a kernel pricer");
}

double SearchCost::RuntimeMs(const Graph& graph) {
  if (kernels_) return kernels_->RuntimeMs(graph);
  double total = 0;
  for (double runtime : OpRuntimesMs(graph, graph.ConstantOps())) total += runtime;
  return total;
}

const double* SearchCost::Cached(uint64_t cost_hash) const {
  if (kernels_) return nullptr;
  auto found = runtime_by_cost_hash_.find(cost_hash);
  return found == runtime_by_cost_hash_.end() ? nullptr : &found->second;
}

std::vector<double> SearchCost::OpRuntimesMs(const Graph& graph, const std::vector<bool>& constant) {
  std::vector<double> runtimes(static_cast<size_t>(graph.NumOps()), 0.0);
  if (kernels_) {
    const GraphCost priced = kernels_->Price(graph);
    for (const OpCost& record : priced.ops) runtimes[static_cast<size_t>(record.op_index)] = record.runtime_ms;
    if (!runtimes.empty()) runtimes[0] += kernels_->model().per_call_ms;
    return runtimes;
  }
  for (int32_t index = 0; index < graph.NumOps(); ++index) {
    const Op& op = graph.op(index);
    if (op.IsLeaf() || constant[static_cast<size_t>(index)]) continue;
    const uint64_t cost_hash = CostHash(graph, index, constant);
    if (const double* cached = Cached(cost_hash)) {
      runtimes[static_cast<size_t>(index)] = *cached;
      continue;
    }
    const OpMetrics metrics = ComputeOpMetrics(graph, index, constant);
    double runtime = 0;
    if (metrics.kernel_launches > 0) {
      const std::string key = CostKey(graph, index, constant);
      const double* measured = table_ ? table_->Find(key) : nullptr;
      auto remembered = measured_by_key_.find(key);
      if (measured != nullptr) {
        runtime = *measured;
      } else if (remembered != measured_by_key_.end()) {
        runtime = remembered->second;
      } else if (measure_) {
        runtime = measure_(MeasurementDescriptorOf(graph, index, constant));
        if (!(runtime >= 0)) throw CostError(op.Describe() + ": the measure callback returned " + std::to_string(runtime) + " ms for '" + key + "'; expected a number >= 0");
        measured_by_key_.emplace(key, runtime);
      } else if (analytic_ != nullptr) {
        runtime = AnalyticRuntimeMs(metrics, *analytic_);
      } else {
        throw CostError(op.Describe() + ": cost key '" + key + "' is missing from the measured cost table and no "
                        "measure callback or analytic fallback was given");
      }
    }
    runtime_by_cost_hash_.emplace(cost_hash, runtime);
    runtimes[static_cast<size_t>(index)] = runtime;
  }
  return runtimes;
}

}  // namespace xflow
