// Finding and applying substitutions on a graph.
//
//   GraphIndex   per-graph lookups the matcher needs: ops by type, consumers
//                of each op, use counts, graph-output slots, constant ops,
//                op content hashes. Build once per graph, reuse for every rule.
//   Match        a source-pattern embedding: graph op per source op (source
//                order) and graph edge per input variable.
//   NewOp        a target op ready to insert: built, checked and typed; its
//                inputs point at graph edges or at earlier new ops.
//   Rewrite      a validated match plus what applying it does: the new ops,
//                the edges they replace, and the ops removed (matched ops
//                and the dead ops left behind).
//   Locations    for every xfer: its valid, deduplicated rewrites, capped.
//   FindLocations / ApplyRewrite / ApplyLocation   the public operations.
//
// Validity of a location (checked while matching, so every listed location
// applies): the pattern's edges and parameter requirements hold; the rule's
// constraints hold; every matched output used outside the pattern (by
// another op or as a graph output) is mapped; no input variable is produced
// by a matched op, nor depends on one (the rewrite would create a cycle); the
// target ops pass shape inference and every mapped target tensor has the
// type of the source tensor it replaces.
//
// Order and dedup: locations are sorted by their matched op indices (source
// pattern order), lexicographically. Two locations are duplicates when
// their resulting graphs hash equal. Building every candidate graph to hash
// it would cost O(graph) per location, so dedup works on a canonical key of
// the match instead: the content hashes of the matched ops and of the bound
// variables' producers (with output indices). Matches with different keys
// rewrite different computations and give different graphs (up to 64-bit
// collisions, and for the rules of this library; tests check it by brute
// force on the zoo graphs); matches with equal keys are compared exactly by
// building both results and comparing Graph::Hash, the first one kept.
//
// Applying: the result keeps every unchanged op's shared_ptr, replaces the
// matched ops by the new ops, redirects consumers and graph outputs of
// mapped tensors, drops dead ops (never graph inputs) and re-sorts
// topologically, keeping the original relative order of untouched ops.
#ifndef RLGRAPH_XFLOW_ENGINE_SUBSTITUTION_H_
#define RLGRAPH_XFLOW_ENGINE_SUBSTITUTION_H_

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/graph.h"
#include "engine/rule.h"

namespace xflow {

inline constexpr int32_t kDefaultMaxLocations = 200;

// A read-only run of (consumer op, input position) pairs.
struct ConsumerRange {
  const std::pair<int32_t, int32_t>* first;
  const std::pair<int32_t, int32_t>* last;
  const std::pair<int32_t, int32_t>* begin() const { return first; }
  const std::pair<int32_t, int32_t>* end() const { return last; }
};

class GraphIndex {
 public:
  explicit GraphIndex(const Graph& graph);

  const Graph& graph() const { return graph_; }
  const std::vector<int32_t>& OpsOfType(const std::string& type) const;
  // (consumer op, input position) pairs reading any output of op, by
  // consumer then position.
  ConsumerRange Consumers(int32_t op) const {
    const std::pair<int32_t, int32_t>* base = consumers_.data();
    return ConsumerRange{base + consumer_offsets_[static_cast<size_t>(op)], base + consumer_offsets_[static_cast<size_t>(op) + 1]};
  }
  // Input edges reading op plus graph outputs it produces.
  int32_t UseCount(int32_t op) const { return use_count_[static_cast<size_t>(op)]; }
  bool IsGraphOutput(const Edge& edge) const;
  const std::vector<bool>& constant() const { return constant_; }
  const std::vector<uint64_t>& op_hashes() const { return op_hashes_; }

 private:
  const Graph& graph_;
  std::unordered_map<std::string, std::vector<int32_t>> ops_by_type_;
  // Every op's consumers in one array (op i's at [offsets[i], offsets[i+1])):
  // the index is rebuilt for every graph the environment or a search sees.
  std::vector<int32_t> consumer_offsets_;
  std::vector<std::pair<int32_t, int32_t>> consumers_;
  std::vector<int32_t> use_count_;
  std::vector<bool> constant_;
  std::vector<uint64_t> op_hashes_;
};

struct Match {
  std::vector<int32_t> ops;     // graph op per source op, in source order
  std::vector<Edge> variables;  // graph edge per input variable
};

// Where a new op's input comes from.
struct RewriteInput {
  bool is_new = false;  // true: new op `index`; false: graph edge (index, output)
  int32_t index = 0;
  int32_t output = 0;
};

struct NewOp {
  Op op;  // type, params and outputs; inputs, name and output names set on apply
  std::shared_ptr<const std::string> name_base;  // the rule's base for this op's name
  std::vector<RewriteInput> inputs;
  std::vector<TensorType> input_types;
  std::vector<std::optional<IntList>> input_int_values;
  std::vector<bool> input_constant;
  bool constant = false;  // every input constant: folded at export
};

struct Rewrite {
  int32_t xfer = 0;
  Match match;
  std::vector<NewOp> new_ops;
  std::vector<std::pair<Edge, RewriteInput>> replacements;  // old tensor -> its replacement
  std::vector<int32_t> removed;                             // sorted graph op indices
  uint64_t key = 0;                                         // canonical dedup key
};

// Every valid match of rule over the graph, in enumeration order (not yet
// sorted or deduplicated). Stops after `limit` valid matches (<0: no limit).
std::vector<Rewrite> FindRewrites(const Rule& rule, int32_t xfer, const GraphIndex& index, int32_t limit = -1);

struct Locations {
  std::vector<int32_t> counts;                   // per xfer, <= max_locations
  std::vector<std::vector<Rewrite>> rewrites;    // per xfer, counts[i] entries
  // Descriptors: matched graph op indices, source pattern order.
  std::vector<std::vector<std::vector<int32_t>>> Descriptors() const;
};

// All locations of all xfers (or of one xfer when only_xfer >= 0; the others
// then get count 0), sorted and deduplicated as described above, each xfer
// capped at max_locations.
Locations FindLocations(const RuleLibrary& library, const Graph& graph, int32_t max_locations = kDefaultMaxLocations,
                        int32_t only_xfer = -1);

// The graph with the rewrite applied (the rewrite must come from this graph).
Graph ApplyRewrite(const Graph& graph, const Rewrite& rewrite);

// Applies location `location` of xfer `xfer`; ApplyError when either id is
// out of range (the message gives the valid range).
Graph ApplyLocation(const RuleLibrary& library, const Graph& graph, int32_t xfer, int32_t location,
                    int32_t max_locations = kDefaultMaxLocations);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_SUBSTITUTION_H_
