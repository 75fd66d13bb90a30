// The cost model: per-op metrics, cost keys and graph cost.
//
//   OpMetrics     FLOPs, bytes moved and kernel launches of one op.
//   CostKey       the canonical text that identifies an op configuration for
//                 cost lookup: type, input types (weight / constant values),
//                 output arity and parameters.
//   CostTable     measured runtimes (ms) by cost key, filled from Python.
//   OpCost        one op's record in a cost breakdown.
//   GraphCost     totals (runtime_ms, flops, mem_access_bytes,
//                 kernel_launches) plus the per-op breakdown.
//   ComputeCost   prices a graph from a table, the analytic roofline, or a
//                 table with analytic fallback.
//
// Decisions: Input, Weight and Constant ops, metadata ops (Identity, Dropout,
// Reshape, Flatten, Squeeze, Unsqueeze) and ops whose inputs are all
// constant (foldable before run time) cost nothing: 0 FLOPs, 0 bytes, 0
// launches, 0 ms. Every other op is one kernel launch. Bytes moved are the
// inputs read plus the outputs written (weights included), with op-specific
// refinements (Gather/Slice/Split read only what they copy). Opaque ops
// count their bytes and one launch but 0 FLOPs (unknown). The analytic
// runtime of a launched op is max(flops / peak, bytes / bandwidth) plus the
// device's launch overhead.
#ifndef RLGRAPH_XFLOW_ENGINE_COST_MODEL_H_
#define RLGRAPH_XFLOW_ENGINE_COST_MODEL_H_

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/device_profiles.h"
#include "engine/graph.h"

namespace xflow {

struct OpMetrics {
  double flops = 0;
  double bytes = 0;
  int64_t kernel_launches = 0;
};

// constant[i] as returned by Graph::ConstantOps.
OpMetrics ComputeOpMetrics(const Graph& graph, int32_t index, const std::vector<bool>& constant);
std::string CostKey(const Graph& graph, int32_t index, const std::vector<bool>& constant);

// One input of an op as pricing sees it: its type (null for an omitted
// input), whether it is constant, and its int values when it carries them.
struct CostInput {
  const TensorType* type = nullptr;
  bool constant = false;
  const IntList* int_values = nullptr;
};
// A 64-bit hash of what CostKey spells out (type, inputs, output arity,
// opaque output types, parameters), so ops with equal keys hash equal and,
// up to collisions, only those. An op's runtime is a function of it, which
// lets a search price an op that is not in a graph yet (a rewrite's new op).
uint64_t CostHash(const Op& op, const std::vector<CostInput>& inputs);
uint64_t CostHash(const Graph& graph, int32_t index, const std::vector<bool>& constant);

class CostTable {
 public:
  void Set(const std::string& cost_key, double runtime_ms);
  const double* Find(const std::string& cost_key) const;
  size_t size() const { return runtime_ms_.size(); }

 private:
  std::unordered_map<std::string, double> runtime_ms_;
};

struct OpCost {
  int32_t op_index = 0;
  std::string cost_key;
  OpMetrics metrics;
  double runtime_ms = 0;
};

struct GraphCost {
  double runtime_ms = 0;
  double flops = 0;
  double mem_access_bytes = 0;
  int64_t kernel_launches = 0;
  std::vector<OpCost> ops;  // every op but Input and Weight, in graph order
};

// Adds one op's record to a graph's totals and breakdown.
void AddOpCost(GraphCost& cost, OpCost record);
// Adds a record for every op a breakdown lists (all but Input and Weight, in
// graph order); price(op, record) fills in its metrics and runtime. Every
// pricer loops through here so their breakdowns list the same ops.
template <typename PriceOp>
void AddOpCosts(const Graph& graph, GraphCost& cost, PriceOp price) {
  for (int32_t index = 0; index < graph.NumOps(); ++index) {
    const Op& op = graph.op(index);
    if (op.type == kInputOp || op.type == kWeightOp) continue;
    OpCost record;
    record.op_index = index;
    price(op, record);
    AddOpCost(cost, std::move(record));
  }
}

// table: measured runtimes, may be null. analytic: the roofline profile,
// may be null. A launched op is priced from the table when its key is there,
// else from the roofline when a profile is given; otherwise CostError names
// the op and its key. At least one of the two must be given.
GraphCost ComputeCost(const Graph& graph, const CostTable* table, const DeviceProfile* analytic);
// Prices graphs like ComputeCost(graph, nullptr, &profile), remembering each
// op configuration's metrics and runtime by CostHash, so a graph that differs
// from earlier ones in a few ops computes only those (the environment prices
// every step's graph this way). Its breakdown leaves OpCost::cost_key empty:
// building the key strings is most of what the cache saves.
class CachedAnalyticCost {
 public:
  explicit CachedAnalyticCost(const DeviceProfile& profile) : profile_(&profile) {}
  GraphCost Price(const Graph& graph);
  const DeviceProfile& profile() const { return *profile_; }

 private:
  const DeviceProfile* profile_;
  std::unordered_map<uint64_t, std::pair<OpMetrics, double>> by_cost_hash_;
};

// The roofline runtime of one launched op on a device profile.
double AnalyticRuntimeMs(const OpMetrics& metrics, const DeviceProfile& profile);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_COST_MODEL_H_
