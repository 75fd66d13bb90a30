// Substitution rules ("xfers") and the rule library, as parsed from the
// rule files in ops/rules/ (format: ops/rules/README.md; parser:
// rule_parser.cc).
//
//   SourceInput      where a source-pattern op input comes from: an earlier
//                    source op's output or an input variable.
//   ParamRequirement a source op parameter that must equal a literal (or be
//                    absent) for the op to match.
//   SourceOp         one op of the source pattern.
//   TargetInput      a target op input: an input variable, an earlier target
//                    op's output, or a new constant computed from the match.
//   TargetParam      a target op parameter: set from an expression, or removed.
//   TargetOp         one op of the target pattern (may copy a source op's
//                    parameters first).
//   OutputMapping    source tensor -> target tensor (or input variable) that
//                    replaces it for every consumer outside the pattern.
//   RuleExample      concrete shapes/parameters under which the rule applies;
//                    the loader and the equivalence tests instantiate it.
//   Rule             all of the above plus constraints (`where`) and the
//                    order in which the matcher places source ops.
//   RuleLibrary      the loaded rules, indexed by xfer id (load order).
#ifndef RLGRAPH_XFLOW_ENGINE_RULE_H_
#define RLGRAPH_XFLOW_ENGINE_RULE_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/expression.h"
#include "engine/graph.h"

namespace xflow {

struct SourceInput {
  int32_t op = -1;        // source op index, or -1 for a variable
  int32_t variable = -1;  // variable index when op == -1
  int32_t output = 0;
};

struct ParamRequirement {
  std::string key;
  bool absent = false;
  ParamValue value;
};

struct SourceOp {
  std::string name;
  std::string type;
  std::vector<SourceInput> inputs;
  int32_t num_outputs = 1;
  std::vector<ParamRequirement> params;
  // Add and Mul: the matcher also tries the two inputs swapped.
  bool commutative = false;
};

struct TargetInput {
  enum class Kind { kVariable, kTargetOp, kIntConstant, kFloatConstant };
  Kind kind = Kind::kVariable;
  int32_t index = -1;
  int32_t output = 0;
  Expr value;  // kIntConstant / kFloatConstant: the constant's values
};

struct TargetParam {
  std::string key;
  bool remove = false;
  Expr value;
};

struct TargetOp {
  std::string name;
  std::string type;
  std::vector<TargetInput> inputs;
  int32_t num_outputs = 1;
  int32_t copy_from = -1;  // source op whose parameters are copied first
  std::vector<TargetParam> params;
  // "<rule id>.<name>": the ops a rewrite creates are named after it. Shared
  // so a planned rewrite carries it without building a string.
  std::shared_ptr<const std::string> name_base;
};

struct OutputMapping {
  int32_t source_op = 0;
  int32_t source_output = 0;
  TargetInput target;  // kVariable or kTargetOp
};

struct ExampleTensor {
  int32_t variable = 0;
  // "input" (graph input), "weight" (random initializer), "positive"
  // (initializer with values in [0.5, 1.5], e.g. a variance).
  std::string kind;
  TensorType type;
  bool has_values = false;
  IntList values;  // integer initializers whose values shape inference reads
};

struct ExampleParam {
  int32_t source_op = 0;
  std::string key;
  ParamValue value;
};

struct RuleExample {
  std::vector<ExampleTensor> tensors;  // one per variable, in variable order
  std::vector<ExampleParam> params;
  int32_t line = 0;
};

struct Rule {
  std::string id;
  std::string family;
  std::string doc;
  std::string file;
  int32_t line = 0;
  std::string text;  // the rule's source text, for error messages
  std::vector<std::string> variables;
  std::vector<SourceOp> source;
  std::vector<TargetOp> target;
  std::vector<OutputMapping> maps;
  std::vector<Expr> constraints;
  std::vector<RuleExample> examples;
  // Source op indices in the order the matcher places them: each op after
  // the first is, where possible, adjacent to an already placed op, so its
  // candidates come from edges instead of a scan.
  std::vector<int32_t> match_order;
  // "<rule id>.constant": the base of generated constants' names.
  std::shared_ptr<const std::string> constant_name_base;

  // "ops/rules/conv.rules:12 rule 'fuse_conv_relu'"
  std::string Where() const;
  // Source op index by name, or -1.
  int32_t FindSourceOp(const std::string& name) const;
  // Variable index by name, or -1.
  int32_t FindVariable(const std::string& name) const;
};

// Parses one rule file's text; file names the source in errors. Checks the
// syntax and that every name resolves; does not run the examples.
std::vector<Rule> ParseRules(const std::string& text, const std::string& file);

class RuleLibrary {
 public:
  RuleLibrary() = default;

  // Loads rule files: each path is a *.rules file or a directory whose
  // *.rules files are read in name order. Every rule is validated and each
  // of its examples must match and apply (RuleError names file, line, id).
  static RuleLibrary Load(const std::vector<std::string>& paths);
  // Parses and validates rules from text (file labels errors).
  static RuleLibrary FromText(const std::string& text, const std::string& file);

  int32_t size() const { return static_cast<int32_t>(rules_.size()); }
  const Rule& rule(int32_t index) const;
  const std::vector<Rule>& rules() const { return rules_; }
  // Xfer id of the rule with this id, or -1.
  int32_t Find(const std::string& id) const;

 private:
  void Add(std::vector<Rule> rules);

  std::vector<Rule> rules_;
  std::unordered_map<std::string, int32_t> index_by_id_;
};

// Builds the source pattern of rule.examples[example] as a concrete graph:
// variables become inputs / initializers (named after the variable), source
// ops become ops named after their pattern names, and every source output
// that the rule maps becomes a graph output named "<op>:<output>".
Graph InstantiateExample(const Rule& rule, int32_t example);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_RULE_H_
