// A graph prepared so a search can price and hash its rewrites without
// building them.
//
//   RewriteEstimate  the hash a rewritten graph would have (always exact)
//                    and its runtime (ms), when that can be predicted exactly.
//   PricedGraph      a graph with its op hashes, per-op runtimes, constant
//                    flags and totals; Estimate(rewrite) predicts the
//                    rewritten graph's hash and runtime.
//
// Why: building a candidate (ApplyRewrite) copies and re-sorts the whole
// graph and copies every op whose index shifts, and hashing and pricing it
// walk the whole graph again. A search looks at ~100 candidates per graph it
// expands and keeps few of them, so the search spent most of its time on
// graphs it threw away.
//
// How: a rewrite removes ops and adds new ops; every other op keeps its
// type, parameters and input types (the matcher checks that replacements
// have the source tensor's type). So:
//   - runtime = parent runtime - removed ops' runtimes + new ops' runtimes,
//     each new op priced from the search's cache by CostHash, computed from
//     the NewOp's own input types, constness and int values. It is exact
//     when every new op is cached and no replaced tensor changes constness
//     or becomes a leaf (either would change a downstream op's CostHash);
//     otherwise runtime is empty and the caller builds the graph to price
//     it, which fills the cache for the next time.
//   - hash: op hashes are Merkle hashes (hash.cc), so new ops and every op
//     downstream of a replaced tensor get new hashes; they are recomputed
//     from the cached per-op head hashes, and the graph's multiset sum is
//     updated by the difference. This equals Graph::Hash of the built graph
//     because both use the same hash.h functions (tests compare them on
//     every location of the zoo graphs).
//
// Estimate uses scratch buffers held by the PricedGraph: one thread at a time.
#ifndef RLGRAPH_XFLOW_ENGINE_PRICED_GRAPH_H_
#define RLGRAPH_XFLOW_ENGINE_PRICED_GRAPH_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/cost_model.h"
#include "engine/graph.h"
#include "engine/search_cost.h"
#include "engine/substitution.h"

namespace xflow {

struct RewriteEstimate {
  uint64_t hash = 0;
  std::optional<double> runtime_ms;
};

class PricedGraph {
 public:
  PricedGraph(Graph graph, SearchCost& cost);

  const Graph& graph() const { return graph_; }
  double runtime_ms() const { return runtime_ms_; }
  uint64_t hash() const { return hash_; }

  // The rewrite must come from FindLocations on this graph.
  RewriteEstimate Estimate(const Rewrite& rewrite, const SearchCost& cost);

 private:
  Graph graph_;
  std::vector<uint64_t> heads_;
  std::vector<uint64_t> op_hashes_;
  std::vector<bool> constant_;
  std::vector<double> op_runtimes_;
  double runtime_ms_ = 0;
  uint64_t multiset_ = 0;
  uint64_t hash_ = 0;
  // Scratch for Estimate, all false / unused between calls.
  std::vector<char> removed_;
  std::vector<char> changed_;
  std::vector<uint64_t> changed_hash_;
  std::vector<int32_t> touched_;
  std::vector<uint64_t> terms_;
  std::vector<uint64_t> new_hashes_;
  std::vector<uint64_t> output_terms_;
  std::vector<CostInput> cost_inputs_;
};

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_PRICED_GRAPH_H_
