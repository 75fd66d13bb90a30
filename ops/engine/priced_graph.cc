// Pricing and hashing rewrites without building them (see priced_graph.h).
#include "engine/priced_graph.h"

#include <string>
#include <utility>

#include "engine/cost_model.h"
#include "engine/errors.h"
#include "engine/hash.h"

namespace xflow {

PricedGraph::PricedGraph(Graph graph, SearchCost& cost) : graph_(std::move(graph)) {
  const auto count = static_cast<size_t>(graph_.NumOps());
  heads_.resize(count);
  op_hashes_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const Op& op = graph_.op(static_cast<int32_t>(i));
    heads_[i] = OpHeadHash(op);
    terms_.clear();
    for (const Edge& edge : op.inputs) {
      terms_.push_back(edge.IsMissing() ? kMissingInputHash : InputHashTerm(op_hashes_[static_cast<size_t>(edge.op)], edge.output));
    }
    op_hashes_[i] = FinishOpHash(op, heads_[i], terms_.data());
    multiset_ += MultisetTerm(op_hashes_[i]);
  }
  terms_.clear();
  for (const GraphOutput& output : graph_.outputs()) {
    terms_.push_back(InputHashTerm(op_hashes_[static_cast<size_t>(output.edge.op)], output.edge.output));
  }
  hash_ = FinishGraphHash(multiset_, count, terms_.data(), terms_.size());
  constant_ = graph_.ConstantOps();
  op_runtimes_ = cost.OpRuntimesMs(graph_, constant_);
  for (double runtime : op_runtimes_) runtime_ms_ += runtime;
  removed_.assign(count, 0);
  changed_.assign(count, 0);
  changed_hash_.assign(count, 0);
}

RewriteEstimate PricedGraph::Estimate(const Rewrite& rewrite, const SearchCost& cost) {
  const int32_t count = graph_.NumOps();
  uint64_t multiset = multiset_;
  double runtime = runtime_ms_;
  bool runtime_exact = cost.additive();
  // Clears the scratch flags on every exit, a thrown ApplyError included.
  struct ScratchReset {
    PricedGraph& owner;
    const Rewrite& rewrite;
    ~ScratchReset() {
      for (int32_t op : rewrite.removed) owner.removed_[static_cast<size_t>(op)] = 0;
      for (int32_t op : owner.touched_) owner.changed_[static_cast<size_t>(op)] = 0;
      owner.touched_.clear();
    }
  } reset{*this, rewrite};
  for (int32_t op : rewrite.removed) {
    removed_[static_cast<size_t>(op)] = 1;
    multiset -= MultisetTerm(op_hashes_[static_cast<size_t>(op)]);
    runtime -= op_runtimes_[static_cast<size_t>(op)];
  }

  std::vector<uint64_t>& new_hashes = new_hashes_;
  new_hashes.assign(rewrite.new_ops.size(), 0);
  std::vector<CostInput>& cost_inputs = cost_inputs_;
  auto producer_hash = [&](const RewriteInput& input) {
    return input.is_new ? new_hashes[static_cast<size_t>(input.index)] : op_hashes_[static_cast<size_t>(input.index)];
  };
  for (size_t j = 0; j < rewrite.new_ops.size(); ++j) {
    const NewOp& created = rewrite.new_ops[j];
    terms_.clear();
    for (const RewriteInput& input : created.inputs) terms_.push_back(InputHashTerm(producer_hash(input), input.output));
    new_hashes[j] = FinishOpHash(created.op, OpHeadHash(created.op), terms_.data());
    multiset += MultisetTerm(new_hashes[j]);
    // Leaves and ops of constants only cost nothing (cost_model.h).
    if (!runtime_exact || created.op.IsLeaf() || created.constant) continue;
    cost_inputs.clear();
    for (size_t i = 0; i < created.inputs.size(); ++i) {
      cost_inputs.push_back(CostInput{&created.input_types[i], static_cast<bool>(created.input_constant[i]),
                                      created.input_int_values[i] ? &*created.input_int_values[i] : nullptr});
    }
    const double* cached = cost.Cached(CostHash(created.op, cost_inputs));
    if (cached == nullptr) {
      runtime_exact = false;
    } else {
      runtime += *cached;
    }
  }

  // A replaced tensor keeps its type; when it also keeps its constness and
  // neither side is a leaf (whose int values readers' costs may depend on),
  // its readers keep their CostHash and runtime.
  auto replacement_term = [&](const Edge& edge) -> uint64_t {
    for (const auto& [old_edge, replacement] : rewrite.replacements) {
      if (old_edge == edge) return InputHashTerm(producer_hash(replacement), replacement.output);
    }
    throw ApplyError("rewrite of xfer " + std::to_string(rewrite.xfer) + " removes op #" + std::to_string(edge.op) +
                     " but leaves a reader of its output " + std::to_string(edge.output) + " unmapped");
  };
  for (const auto& [old_edge, replacement] : rewrite.replacements) {
    const bool old_constant = constant_[static_cast<size_t>(old_edge.op)];
    const bool new_constant = replacement.is_new ? rewrite.new_ops[static_cast<size_t>(replacement.index)].constant
                                                 : static_cast<bool>(constant_[static_cast<size_t>(replacement.index)]);
    const bool new_leaf = replacement.is_new ? rewrite.new_ops[static_cast<size_t>(replacement.index)].op.IsLeaf()
                                             : graph_.op(replacement.index).IsLeaf();
    if (old_constant != new_constant || new_leaf || graph_.op(old_edge.op).IsLeaf()) runtime_exact = false;
  }

  // Ops downstream of a removed op: graph order is topological, so one pass
  // from the first removed op sees every producer before its readers.
  const int32_t first = rewrite.removed.empty() ? count : rewrite.removed.front();
  for (int32_t i = first + 1; i < count; ++i) {
    if (removed_[static_cast<size_t>(i)]) continue;
    const Op& op = graph_.op(i);
    bool dirty = false;
    for (const Edge& edge : op.inputs) {
      if (!edge.IsMissing() && (removed_[static_cast<size_t>(edge.op)] || changed_[static_cast<size_t>(edge.op)])) {
        dirty = true;
        break;
      }
    }
    if (!dirty) continue;
    terms_.clear();
    for (const Edge& edge : op.inputs) {
      if (edge.IsMissing()) {
        terms_.push_back(kMissingInputHash);
      } else if (removed_[static_cast<size_t>(edge.op)]) {
        terms_.push_back(replacement_term(edge));
      } else if (changed_[static_cast<size_t>(edge.op)]) {
        terms_.push_back(InputHashTerm(changed_hash_[static_cast<size_t>(edge.op)], edge.output));
      } else {
        terms_.push_back(InputHashTerm(op_hashes_[static_cast<size_t>(edge.op)], edge.output));
      }
    }
    const uint64_t hash = FinishOpHash(op, heads_[static_cast<size_t>(i)], terms_.data());
    changed_[static_cast<size_t>(i)] = 1;
    changed_hash_[static_cast<size_t>(i)] = hash;
    touched_.push_back(i);
    multiset += MultisetTerm(hash) - MultisetTerm(op_hashes_[static_cast<size_t>(i)]);
  }

  std::vector<uint64_t>& output_terms = output_terms_;
  output_terms.clear();
  for (const GraphOutput& output : graph_.outputs()) {
    const Edge& edge = output.edge;
    if (removed_[static_cast<size_t>(edge.op)]) {
      output_terms.push_back(replacement_term(edge));
    } else if (changed_[static_cast<size_t>(edge.op)]) {
      output_terms.push_back(InputHashTerm(changed_hash_[static_cast<size_t>(edge.op)], edge.output));
    } else {
      output_terms.push_back(InputHashTerm(op_hashes_[static_cast<size_t>(edge.op)], edge.output));
    }
  }
  const size_t op_count = static_cast<size_t>(count) - rewrite.removed.size() + rewrite.new_ops.size();

  RewriteEstimate estimate;
  estimate.hash = FinishGraphHash(multiset, op_count, output_terms.data(), output_terms.size());
  if (runtime_exact) estimate.runtime_ms = runtime;
  return estimate;
}

}  // namespace xflow
