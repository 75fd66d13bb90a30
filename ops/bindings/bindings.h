// Registration hooks of the binding files: engine_module.cc defines the
// module and calls each of these to add one concept's classes and functions.
#ifndef RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_
#define RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_

#include <pybind11/pybind11.h>

#include <memory>

#include "engine/cost_model.h"
#include "engine/graph.h"
#include "engine/kernel_cost.h"
#include "engine/measurement.h"

// One op's measurement descriptor as the Python dict that
// XflowGraph.measurement_descriptors lists and measure callbacks receive
// (engine_module.cc).
pybind11::dict MeasurementDescriptorToDict(const xflow::MeasurementDescriptor& descriptor);

// A graph's cost with its per-op breakdown as a Python dict (engine_module.cc).
pybind11::dict CostToDict(const xflow::Graph& graph, const xflow::GraphCost& cost);

// The kernel pricer Python holds; shared with searches and environments so
// they reuse its cache (kernel_cost_module.cc).
using KernelPricer = std::shared_ptr<xflow::CachedKernelCost>;

// Rules, locations, apply (rules_module.cc).
void RegisterRuleBindings(pybind11::module_& module, const pybind11::object& engine_error);
// Greedy and backtracking search (search_module.cc).
void RegisterSearchBindings(pybind11::module_& module);

// Runtime kernels, kernel descriptors and the kernel pricer (kernel_cost_module.cc).
void RegisterKernelCostBindings(pybind11::module_& module);

// The RL environment's state machine and observation (environment_module.cc).
void RegisterEnvironmentBindings(pybind11::module_& module);

#endif  // RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_
