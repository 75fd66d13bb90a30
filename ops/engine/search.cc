// Search costs, greedy and backtracking search (see search.h).
#include "engine/search.h"

#include <chrono>
#include <memory>
#include <queue>
#include <unordered_set>

#include "engine/errors.h"

namespace xflow {

SearchCost::SearchCost(const CostTable* table, Measure measure, const DeviceProfile* analytic)
    : table_(table), measure_(std::move(measure)), analytic_(analytic) {
  if (table_ == nullptr && !measure_ && analytic_ == nullptr) {
    throw CostError("search needs a cost source: a device profile, a measured cost table, or a measure callback");
  }
}

double SearchCost::RuntimeMs(const Graph& graph) {
  const std::vector<uint64_t> hashes = graph.OpHashes();
  std::vector<bool> constant;
  double total = 0;
  for (int32_t index = 0; index < graph.NumOps(); ++index) {
    const Op& op = graph.op(index);
    if (op.IsLeaf()) continue;
    auto cached = runtime_by_op_hash_.find(hashes[static_cast<size_t>(index)]);
    if (cached != runtime_by_op_hash_.end()) {
      total += cached->second;
      continue;
    }
    if (constant.empty()) constant = graph.ConstantOps();
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
    runtime_by_op_hash_.emplace(hashes[static_cast<size_t>(index)], runtime);
    total += runtime;
  }
  return total;
}

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The applied-rule trail of a search node, shared by its descendants.
struct Trail {
  std::shared_ptr<const Trail> parent;
  std::string rule;
};

std::vector<std::string> Unwind(const std::shared_ptr<const Trail>& trail) {
  std::vector<std::string> rules;
  for (const Trail* node = trail.get(); node != nullptr; node = node->parent.get()) rules.push_back(node->rule);
  return std::vector<std::string>(rules.rbegin(), rules.rend());
}

}  // namespace

SearchResult GreedySearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost, int32_t max_locations,
                          int32_t max_steps) {
  const auto start = std::chrono::steady_clock::now();
  SearchResult result;
  result.best = graph;
  result.initial_cost_ms = cost.RuntimeMs(graph);
  double current = result.initial_cost_ms;
  for (int32_t step = 0; step < max_steps; ++step) {
    const Locations locations = FindLocations(library, result.best, max_locations);
    const Rewrite* chosen = nullptr;
    double chosen_cost = current;
    Graph chosen_graph;
    for (const std::vector<Rewrite>& rewrites : locations.rewrites) {
      for (const Rewrite& rewrite : rewrites) {
        Graph candidate = ApplyRewrite(result.best, rewrite);
        const double candidate_cost = cost.RuntimeMs(candidate);
        ++result.explored;
        // A relative margin keeps float noise from counting as progress.
        if (candidate_cost < chosen_cost - 1e-12 * std::max(1.0, current)) {
          chosen = &rewrite;
          chosen_cost = candidate_cost;
          chosen_graph = std::move(candidate);
        }
      }
    }
    if (chosen == nullptr) break;
    result.applied.push_back(library.rule(chosen->xfer).id);
    result.best = std::move(chosen_graph);
    current = chosen_cost;
  }
  result.final_cost_ms = current;
  result.seconds = SecondsSince(start);
  return result;
}

SearchResult BacktrackingSearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost, double alpha,
                                int32_t budget, int32_t max_locations) {
  if (!(alpha >= 1.0)) throw CostError("alpha must be >= 1 (TASO uses 1.05), got " + std::to_string(alpha));
  if (budget < 1) throw CostError("budget must be >= 1 explored graph, got " + std::to_string(budget));
  const auto start = std::chrono::steady_clock::now();
  struct Entry {
    double cost_ms;
    int64_t order;  // ties: first queued first, for determinism
    std::shared_ptr<const Graph> parent;
    int32_t xfer;
    int32_t location;
    std::shared_ptr<const Trail> trail;
  };
  auto later = [](const Entry& a, const Entry& b) { return a.cost_ms != b.cost_ms ? a.cost_ms > b.cost_ms : a.order > b.order; };
  std::priority_queue<Entry, std::vector<Entry>, decltype(later)> queue(later);
  SearchResult result;
  result.initial_cost_ms = cost.RuntimeMs(graph);
  result.best = graph;
  result.final_cost_ms = result.initial_cost_ms;
  std::shared_ptr<const Trail> best_trail;
  std::unordered_set<uint64_t> seen = {graph.Hash()};
  int64_t order = 0;
  queue.push(Entry{result.initial_cost_ms, order++, nullptr, -1, -1, nullptr});
  while (!queue.empty() && result.explored < budget) {
    Entry entry = queue.top();
    queue.pop();
    std::shared_ptr<const Graph> current;
    if (entry.parent == nullptr) {
      current = std::make_shared<const Graph>(graph);
    } else {
      const Locations parent_locations = FindLocations(library, *entry.parent, max_locations, entry.xfer);
      current = std::make_shared<const Graph>(
          ApplyRewrite(*entry.parent, parent_locations.rewrites[static_cast<size_t>(entry.xfer)][static_cast<size_t>(entry.location)]));
    }
    ++result.explored;
    if (entry.cost_ms < result.final_cost_ms) {
      result.final_cost_ms = entry.cost_ms;
      result.best = *current;
      best_trail = entry.trail;
    }
    const Locations locations = FindLocations(library, *current, max_locations);
    for (size_t xfer = 0; xfer < locations.rewrites.size(); ++xfer) {
      const std::vector<Rewrite>& rewrites = locations.rewrites[xfer];
      for (size_t location = 0; location < rewrites.size(); ++location) {
        const Graph candidate = ApplyRewrite(*current, rewrites[location]);
        if (!seen.insert(candidate.Hash()).second) continue;
        const double candidate_cost = cost.RuntimeMs(candidate);
        if (candidate_cost < alpha * result.final_cost_ms) {
          auto trail = std::make_shared<const Trail>(Trail{entry.trail, library.rule(static_cast<int32_t>(xfer)).id});
          queue.push(Entry{candidate_cost, order++, current, static_cast<int32_t>(xfer), static_cast<int32_t>(location), std::move(trail)});
        }
      }
    }
  }
  result.applied = Unwind(best_trail);
  result.seconds = SecondsSince(start);
  return result;
}

}  // namespace xflow
