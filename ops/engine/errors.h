// Exceptions the engine throws; every message names what was expected, what
// was found and where (op name, byte offset, cost key).
//
//   EngineError         base class of every engine error.
//   GraphError          an op or graph is malformed (bad input edge, bad
//                       parameter, shapes that do not fit the op).
//   SerializationError  bytes handed to Graph::FromBytes are truncated or
//                       corrupt.
//   CostError           the cost model cannot price a graph (unknown device
//                       profile, a cost key missing from a measured table).
//   RuleError           a rule file is malformed or a rule is invalid (names
//                       the file, line and rule id).
//   ApplyError          a substitution cannot be applied: an xfer id or
//                       location id out of range, or a rewrite that fails.
#ifndef RLGRAPH_XFLOW_ENGINE_ERRORS_H_
#define RLGRAPH_XFLOW_ENGINE_ERRORS_H_

#include <stdexcept>
#include <string>

namespace xflow {

class EngineError : public std::runtime_error {
 public:
  explicit EngineError(const std::string& message) : std::runtime_error(message) {}
};

class GraphError : public EngineError {
 public:
  explicit GraphError(const std::string& message) : EngineError(message) {}
};

class SerializationError : public EngineError {
 public:
  explicit SerializationError(const std::string& message) : EngineError(message) {}
};

class CostError : public EngineError {
 public:
  explicit CostError(const std::string& message) : EngineError(message) {}
};

class RuleError : public EngineError {
 public:
  explicit RuleError(const std::string& message) : EngineError(message) {}
};

class ApplyError : public EngineError {
 public:
  explicit ApplyError(const std::string& message) : EngineError(message) {}
};

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_ERRORS_H_
