// RuleLibrary loading and validation, and the instantiation of rule
// examples as concrete graphs (see rule.h).
#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "engine/errors.h"
#include "engine/rule.h"
#include "engine/substitution.h"

namespace xflow {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw RuleError(path + ": cannot read the rule file");
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

// The *.rules files of a directory, sorted by name.
std::vector<std::string> RuleFilesIn(const std::string& directory) {
  std::vector<std::string> files;
  DIR* handle = opendir(directory.c_str());
  if (handle == nullptr) throw RuleError(directory + ": cannot list the rule directory");
  while (const dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".rules") == 0) files.push_back(directory + "/" + name);
  }
  closedir(handle);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw RuleError(directory + ": the directory holds no *.rules files");
  return files;
}

// Instantiates, matches and applies every example of rule; RuleError when
// the example does not build, does not match the whole source pattern, or
// does not apply.
void CheckExamples(const Rule& rule) {
  for (size_t e = 0; e < rule.examples.size(); ++e) {
    const std::string where = rule.file + ":" + std::to_string(rule.examples[e].line) + " rule '" + rule.id + "' example " +
                              std::to_string(e + 1);
    Graph graph;
    try {
      graph = InstantiateExample(rule, static_cast<int32_t>(e));
    } catch (const GraphError& error) {
      throw RuleError(where + ": the source pattern does not build with this example: " + error.what());
    }
    const GraphIndex index(graph);
    std::vector<int32_t> whole;
    for (size_t k = 0; k < rule.source.size(); ++k) whole.push_back(static_cast<int32_t>(rule.variables.size() + k));
    bool matched = false;
    for (const Rewrite& rewrite : FindRewrites(rule, 0, index)) {
      if (rewrite.match.ops != whole) continue;
      matched = true;
      try {
        ApplyRewrite(graph, rewrite);
      } catch (const EngineError& error) {
        throw RuleError(where + ": the rule matches but does not apply: " + error.what());
      }
    }
    if (!matched) {
      throw RuleError(where + ": the rule does not match its own example (a constraint fails, a mapped target tensor's type "
                      "differs from the source tensor's, or the target does not type-check)");
    }
  }
}

}  // namespace

const Rule& RuleLibrary::rule(int32_t index) const {
  if (index < 0 || index >= size()) {
    throw ApplyError("xfer id " + std::to_string(index) + " is out of range: the library has " + std::to_string(size()) +
                     " xfers");
  }
  return rules_[static_cast<size_t>(index)];
}

int32_t RuleLibrary::Find(const std::string& id) const {
  auto found = index_by_id_.find(id);
  return found == index_by_id_.end() ? -1 : found->second;
}

void RuleLibrary::Add(std::vector<Rule> rules) {
  for (Rule& rule : rules) {
    auto existing = index_by_id_.find(rule.id);
    if (existing != index_by_id_.end()) {
      throw RuleError(rule.Where() + ": the rule id is already used by " + rules_[static_cast<size_t>(existing->second)].Where());
    }
    CheckExamples(rule);
    index_by_id_.emplace(rule.id, size());
    rules_.push_back(std::move(rule));
  }
}

RuleLibrary RuleLibrary::FromText(const std::string& text, const std::string& file) {
  RuleLibrary library;
  library.Add(ParseRules(text, file));
  return library;
}

RuleLibrary RuleLibrary::Load(const std::vector<std::string>& paths) {
  if (paths.empty()) throw RuleError("no rule files or directories given");
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) throw RuleError(path + ": no such rule file or directory");
    if (S_ISDIR(info.st_mode)) {
      for (std::string& file : RuleFilesIn(path)) files.push_back(std::move(file));
    } else {
      files.push_back(path);
    }
  }
  RuleLibrary library;
  for (const std::string& file : files) library.Add(ParseRules(ReadFile(file), file));
  return library;
}

Graph InstantiateExample(const Rule& rule, int32_t example_index) {
  if (example_index < 0 || example_index >= static_cast<int32_t>(rule.examples.size())) {
    throw RuleError(rule.Where() + ": example " + std::to_string(example_index) + " does not exist (the rule has " +
                    std::to_string(rule.examples.size()) + ")");
  }
  const RuleExample& example = rule.examples[static_cast<size_t>(example_index)];
  Graph graph;
  std::vector<Edge> variables;
  for (const ExampleTensor& tensor : example.tensors) {
    const std::string& name = rule.variables[static_cast<size_t>(tensor.variable)];
    const int32_t index = tensor.kind == "input" ? graph.AddInput(name, tensor.type)
                                                 : graph.AddWeight(name, tensor.type, tensor.has_values ? &tensor.values : nullptr);
    variables.push_back(Edge{index, 0});
  }
  std::vector<int32_t> ops;
  for (size_t k = 0; k < rule.source.size(); ++k) {
    const SourceOp& pattern = rule.source[k];
    Params params;
    for (const ParamRequirement& requirement : pattern.params) {
      if (!requirement.absent) params[requirement.key] = requirement.value;
    }
    for (const ExampleParam& param : example.params) {
      if (param.source_op == static_cast<int32_t>(k)) params[param.key] = param.value;
    }
    std::vector<Edge> inputs;
    for (const SourceInput& input : pattern.inputs) {
      inputs.push_back(input.op >= 0 ? Edge{ops[static_cast<size_t>(input.op)], input.output}
                                     : variables[static_cast<size_t>(input.variable)]);
    }
    ops.push_back(graph.AddOp(pattern.type, pattern.name, std::move(params), std::move(inputs), pattern.num_outputs, {}));
  }
  std::vector<GraphOutput> outputs;
  for (const OutputMapping& mapping : rule.maps) {
    const Edge edge{ops[static_cast<size_t>(mapping.source_op)], mapping.source_output};
    outputs.push_back(GraphOutput{edge, graph.op(edge.op).output_names[static_cast<size_t>(edge.output)]});
  }
  graph.SetOutputs(std::move(outputs));
  return graph;
}

}  // namespace xflow
