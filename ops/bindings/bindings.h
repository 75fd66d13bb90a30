// Registration hooks of the binding files: engine_module.cc defines the
// module and calls each of these to add one concept's classes and functions.
#ifndef RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_
#define RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_

#include <pybind11/pybind11.h>

#include "engine/measurement.h"

// One op's measurement descriptor as the Python dict that
// XflowGraph.measurement_descriptors lists and measure callbacks receive
// (engine_module.cc).
pybind11::dict MeasurementDescriptorToDict(const xflow::MeasurementDescriptor& descriptor);

// Rules, locations, apply (rules_module.cc).
void RegisterRuleBindings(pybind11::module_& module, const pybind11::object& engine_error);
// Greedy and backtracking search (search_module.cc).
void RegisterSearchBindings(pybind11::module_& module);

// The RL environment's state machine and observation (environment_module.cc).
void RegisterEnvironmentBindings(pybind11::module_& module);

#endif  // RLGRAPH_XFLOW_BINDINGS_BINDINGS_H_
