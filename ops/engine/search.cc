// Greedy and backtracking search (see search.h).
#include "engine/search.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <queue>
#include <unordered_set>

#include "engine/errors.h"
#include "engine/priced_graph.h"

namespace xflow {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The applied-rule trail of a search node, shared by its descendants.
struct Trail {
  std::shared_ptr<const Trail> parent;
  int32_t xfer;
  int32_t location;
};

void Unwind(const std::shared_ptr<const Trail>& trail, const RuleLibrary& library, SearchResult& result) {
  for (const Trail* node = trail.get(); node != nullptr; node = node->parent.get()) {
    result.steps.emplace_back(node->xfer, node->location);
  }
  std::reverse(result.steps.begin(), result.steps.end());
  for (const auto& [xfer, location] : result.steps) result.applied.push_back(library.rule(xfer).id);
}

// The runtime of a candidate: predicted when PricedGraph can, else priced
// by building it (which caches its new ops' runtimes for later candidates).
double CandidateRuntime(PricedGraph& parent, const Rewrite& rewrite, const RewriteEstimate& estimate, SearchCost& cost) {
  if (estimate.runtime_ms) return *estimate.runtime_ms;
  return cost.RuntimeMs(ApplyRewrite(parent.graph(), rewrite));
}

}  // namespace

SearchResult GreedySearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost, int32_t max_locations,
                          int32_t max_steps) {
  const auto start = std::chrono::steady_clock::now();
  SearchResult result;
  PricedGraph current(graph, cost);
  result.initial_cost_ms = current.runtime_ms();
  for (int32_t step = 0; step < max_steps; ++step) {
    const Locations locations = FindLocations(library, current.graph(), max_locations);
    const Rewrite* chosen = nullptr;
    std::pair<int32_t, int32_t> chosen_step;
    double chosen_cost = current.runtime_ms();
    for (size_t xfer = 0; xfer < locations.rewrites.size(); ++xfer) {
      const std::vector<Rewrite>& rewrites = locations.rewrites[xfer];
      for (size_t location = 0; location < rewrites.size(); ++location) {
        const Rewrite& rewrite = rewrites[location];
        const double candidate_cost = CandidateRuntime(current, rewrite, current.Estimate(rewrite, cost), cost);
        ++result.explored;
        // A relative margin keeps float noise from counting as progress.
        if (candidate_cost < chosen_cost - 1e-12 * std::max(1.0, current.runtime_ms())) {
          chosen = &rewrite;
          chosen_step = {static_cast<int32_t>(xfer), static_cast<int32_t>(location)};
          chosen_cost = candidate_cost;
        }
      }
    }
    if (chosen == nullptr) break;
    result.steps.push_back(chosen_step);
    result.applied.push_back(library.rule(chosen->xfer).id);
    current = PricedGraph(ApplyRewrite(current.graph(), *chosen), cost);
  }
  result.final_cost_ms = current.runtime_ms();
  result.best = current.graph();
  result.seconds = SecondsSince(start);
  return result;
}

SearchResult BacktrackingSearch(const Graph& graph, const RuleLibrary& library, SearchCost& cost, double alpha,
                                int32_t budget, int32_t max_locations, double time_limit_seconds) {
  if (!(alpha >= 1.0)) throw CostError("alpha must be >= 1 (TASO uses 1.05), got " + std::to_string(alpha));
  if (budget < 1) throw CostError("budget must be >= 1 explored graph, got " + std::to_string(budget));
  if (!(time_limit_seconds >= 0.0)) {
    throw CostError("time_limit_seconds must be >= 0 (0: no limit), got " + std::to_string(time_limit_seconds));
  }
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
  std::shared_ptr<const Trail> best_trail;
  std::unordered_set<uint64_t> seen;
  int64_t order = 0;
  queue.push(Entry{0.0, order++, nullptr, -1, -1, nullptr});
  while (!queue.empty() && result.explored < budget) {
    if (time_limit_seconds > 0.0 && result.explored > 0 && SecondsSince(start) >= time_limit_seconds) break;
    Entry entry = queue.top();
    queue.pop();
    std::unique_ptr<PricedGraph> current;
    if (entry.parent == nullptr) {
      current = std::make_unique<PricedGraph>(graph, cost);
      result.initial_cost_ms = current->runtime_ms();
      result.final_cost_ms = current->runtime_ms();
      result.best = graph;
      seen.insert(current->hash());
    } else {
      const Locations parent_locations = FindLocations(library, *entry.parent, max_locations, entry.xfer);
      current = std::make_unique<PricedGraph>(
          ApplyRewrite(*entry.parent, parent_locations.rewrites[static_cast<size_t>(entry.xfer)][static_cast<size_t>(entry.location)]),
          cost);
    }
    ++result.explored;
    // The queued cost was predicted; the built graph's own sum is the one reported.
    if (current->runtime_ms() < result.final_cost_ms) {
      result.final_cost_ms = current->runtime_ms();
      result.best = current->graph();
      best_trail = entry.trail;
    }
    const auto current_graph = std::make_shared<const Graph>(current->graph());
    const Locations locations = FindLocations(library, *current_graph, max_locations);
    for (size_t xfer = 0; xfer < locations.rewrites.size(); ++xfer) {
      const std::vector<Rewrite>& rewrites = locations.rewrites[xfer];
      for (size_t location = 0; location < rewrites.size(); ++location) {
        const RewriteEstimate estimate = current->Estimate(rewrites[location], cost);
        if (!seen.insert(estimate.hash).second) continue;
        const double candidate_cost = CandidateRuntime(*current, rewrites[location], estimate, cost);
        if (candidate_cost < alpha * result.final_cost_ms) {
          auto trail = std::make_shared<const Trail>(Trail{entry.trail, static_cast<int32_t>(xfer), static_cast<int32_t>(location)});
          queue.push(Entry{candidate_cost, order++, current_graph, static_cast<int32_t>(xfer), static_cast<int32_t>(location), std::move(trail)});
        }
      }
    }
  }
  Unwind(best_trail, library, result);
  result.seconds = SecondsSince(start);
  return result;
}

}  // namespace xflow
