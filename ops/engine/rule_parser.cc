// The rule file parser (format: ops/rules/README.md) and the per-rule
// name resolution and checks that need no graph.
#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "engine/errors.h"
#include "engine/op_registry.h"
#include "engine/rule.h"

namespace xflow {
namespace {

std::string Trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// Drops a '#' comment (outside double quotes).
std::string StripComment(const std::string& line) {
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

bool IsIdentifier(const std::string& text) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Splits at top-level occurrences of separator (outside (), [], {} and quotes).
std::vector<std::string> SplitTopLevel(const std::string& text, char separator) {
  std::vector<std::string> parts;
  int depth = 0;
  bool quoted = false;
  std::string current;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') --depth;
      if (c == separator && depth == 0) {
        parts.push_back(Trim(current));
        current.clear();
        continue;
      }
    }
    current += c;
  }
  if (!Trim(current).empty() || !parts.empty()) parts.push_back(Trim(current));
  return parts;
}

struct RawOp {
  std::string name;
  int32_t num_outputs = 1;
  std::string type;
  std::vector<std::string> arguments;
  std::vector<std::string> params;
  int32_t line = 0;
};

struct RawRule {
  Rule rule;
  std::vector<RawOp> source;
  std::vector<RawOp> target;
  std::vector<std::pair<std::string, int32_t>> maps;
  std::vector<std::pair<std::string, int32_t>> constraints;
  std::vector<std::pair<std::string, int32_t>> examples;
};

class RuleFileParser {
 public:
  RuleFileParser(const std::string& text, const std::string& file) : text_(text), file_(file) {}

  std::vector<Rule> Parse() {
    std::vector<Rule> rules;
    std::optional<RawRule> current;
    enum class Section { kNone, kSource, kTarget } section = Section::kNone;
    size_t start = 0;
    int32_t line_number = 0;
    size_t rule_start = 0;
    while (start <= text_.size()) {
      size_t end = text_.find('\n', start);
      if (end == std::string::npos) end = text_.size();
      const std::string raw_line = text_.substr(start, end - start);
      ++line_number;
      line_ = line_number;
      const std::string line = Trim(StripComment(raw_line));
      const size_t line_start = start;
      start = end + 1;
      if (line.empty()) continue;
      const size_t space = line.find_first_of(" \t");
      const std::string keyword = line.substr(0, space);
      const std::string rest = space == std::string::npos ? "" : Trim(line.substr(space));
      if (!current) {
        if (keyword != "rule") Fail("expected 'rule <id>' to start a rule, found '" + line + "'");
        if (!IsIdentifier(rest)) Fail("a rule id must be an identifier (letters, digits, _), found '" + rest + "'");
        current.emplace();
        current->rule.id = rest;
        current->rule.file = file_;
        current->rule.line = line_number;
        rule_start = line_start;
        section = Section::kNone;
        continue;
      }
      Rule& rule = current->rule;
      if (keyword == "rule") Fail("rule '" + rule.id + "' (line " + std::to_string(rule.line) + ") is missing its 'end'");
      if (keyword == "end") {
        if (!rest.empty()) Fail("'end' takes nothing after it");
        rule.text = text_.substr(rule_start, start - rule_start);
        rules.push_back(Resolve(std::move(*current)));
        current.reset();
      } else if (keyword == "family") {
        rule.family = rest;
      } else if (keyword == "doc") {
        rule.doc += (rule.doc.empty() ? "" : " ") + rest;
      } else if (line == "source:") {
        section = Section::kSource;
      } else if (line == "target:") {
        section = Section::kTarget;
      } else if (keyword == "map") {
        current->maps.emplace_back(rest, line_number);
      } else if (keyword == "where") {
        current->constraints.emplace_back(rest, line_number);
      } else if (keyword == "example") {
        current->examples.emplace_back(rest, line_number);
      } else if (section != Section::kNone && line.find('=') != std::string::npos) {
        (section == Section::kSource ? current->source : current->target).push_back(ParseOp(line, rule));
      } else {
        Fail("rule '" + rule.id + "': unexpected line '" + line +
             "' (expected family, doc, source:, target:, an op line, map, where, example or end)");
      }
    }
    if (current) Fail("rule '" + current->rule.id + "' (line " + std::to_string(current->rule.line) + ") is missing its 'end'");
    return rules;
  }

 private:
  [[noreturn]] void Fail(const std::string& message) const {
    throw RuleError(file_ + ":" + std::to_string(line_) + ": " + message);
  }

  std::string Where(const Rule& rule, int32_t line) const {
    return file_ + ":" + std::to_string(line) + " rule '" + rule.id + "'";
  }

  RawOp ParseOp(const std::string& line, const Rule& rule) {
    RawOp op;
    op.line = line_;
    const size_t equals = line.find('=');
    std::string left = Trim(line.substr(0, equals));
    const std::string right = Trim(line.substr(equals + 1));
    const size_t bracket = left.find('[');
    if (bracket != std::string::npos) {
      const size_t close = left.find(']', bracket);
      if (close == std::string::npos || close + 1 != left.size()) Fail("rule '" + rule.id + "': bad output count in '" + left + "'");
      try {
        op.num_outputs = static_cast<int32_t>(std::stoi(left.substr(bracket + 1, close - bracket - 1)));
      } catch (const std::exception&) {
        Fail("rule '" + rule.id + "': bad output count in '" + left + "'");
      }
      if (op.num_outputs < 1) Fail("rule '" + rule.id + "': an op needs at least one output");
      left = Trim(left.substr(0, bracket));
    }
    if (!IsIdentifier(left)) Fail("rule '" + rule.id + "': op names must be identifiers, found '" + left + "'");
    op.name = left;
    const size_t open = right.find('(');
    if (open == std::string::npos) Fail("rule '" + rule.id + "': expected '<name> = <OpType>(<inputs>) {<params>}', found '" + line + "'");
    op.type = Trim(right.substr(0, open));
    int depth = 0;
    size_t close = std::string::npos;
    for (size_t i = open; i < right.size(); ++i) {
      if (right[i] == '(') ++depth;
      if (right[i] == ')' && --depth == 0) {
        close = i;
        break;
      }
    }
    if (close == std::string::npos) Fail("rule '" + rule.id + "': unbalanced parentheses in '" + line + "'");
    op.arguments = SplitTopLevel(right.substr(open + 1, close - open - 1), ',');
    const std::string tail = Trim(right.substr(close + 1));
    if (!tail.empty()) {
      if (tail.front() != '{' || tail.back() != '}') Fail("rule '" + rule.id + "': parameters must be written {key=value, ...}, found '" + tail + "'");
      op.params = SplitTopLevel(tail.substr(1, tail.size() - 2), ',');
    }
    if (FindOpDefinition(op.type) == nullptr) {
      Fail("rule '" + rule.id + "': unknown op type '" + op.type + "' (rules can use the engine's modelled op types)");
    }
    return op;
  }

  static std::pair<std::string, int32_t> SplitTensorName(const std::string& text) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos) return {Trim(text), 0};
    try {
      return {Trim(text.substr(0, colon)), static_cast<int32_t>(std::stoi(text.substr(colon + 1)))};
    } catch (const std::exception&) {
      return {"", -1};
    }
  }

  Rule Resolve(RawRule raw) {
    Rule& rule = raw.rule;
    line_ = rule.line;
    if (rule.family.empty()) Fail("rule '" + rule.id + "' has no 'family' line");
    if (raw.source.empty()) Fail("rule '" + rule.id + "' has an empty source pattern");
    if (raw.maps.empty()) Fail("rule '" + rule.id + "' maps no source tensor ('map <source> -> <target>')");
    if (raw.examples.empty()) Fail("rule '" + rule.id + "' has no example; every rule needs at least one (it is its test)");
    std::set<std::string> source_names;
    for (const RawOp& op : raw.source) {
      if (!source_names.insert(op.name).second) {
        line_ = op.line;
        Fail("rule '" + rule.id + "': source op '" + op.name + "' is defined twice");
      }
    }
    // Source ops.
    for (const RawOp& raw_op : raw.source) {
      line_ = raw_op.line;
      SourceOp op;
      op.name = raw_op.name;
      op.type = raw_op.type;
      op.num_outputs = raw_op.num_outputs;
      op.commutative = (op.type == "Add" || op.type == "Mul") && raw_op.arguments.size() == 2;
      for (const std::string& argument : raw_op.arguments) {
        const auto [name, output] = SplitTensorName(argument);
        if (!IsIdentifier(name) || output < 0) Fail("rule '" + rule.id + "': bad input '" + argument + "' of source op '" + op.name + "'");
        SourceInput input;
        input.output = output;
        input.op = rule.FindSourceOp(name);
        if (input.op < 0) {
          if (source_names.count(name)) Fail("rule '" + rule.id + "': source op '" + op.name + "' reads '" + name + "', which is defined later; list producers first");
          if (output != 0) Fail("rule '" + rule.id + "': input variable '" + name + "' has a single output");
          input.variable = rule.FindVariable(name);
          if (input.variable < 0) {
            input.variable = static_cast<int32_t>(rule.variables.size());
            rule.variables.push_back(name);
          }
        } else if (output >= rule.source[static_cast<size_t>(input.op)].num_outputs) {
          Fail("rule '" + rule.id + "': '" + argument + "' reads an output that source op '" + name + "' does not have");
        }
        op.inputs.push_back(input);
      }
      for (const std::string& item : raw_op.params) {
        const size_t equals = item.find('=');
        if (equals == std::string::npos) Fail("rule '" + rule.id + "': source parameters are key=literal or key=absent, found '" + item + "'");
        ParamRequirement requirement;
        requirement.key = Trim(item.substr(0, equals));
        const std::string value = Trim(item.substr(equals + 1));
        if (value == "absent") {
          requirement.absent = true;
        } else {
          requirement.value = LiteralParam(value, rule, "source op '" + op.name + "' parameter '" + requirement.key + "'");
        }
        op.params.push_back(requirement);
      }
      rule.source.push_back(std::move(op));
    }
    for (const std::string& name : rule.variables) {
      if (!IsIdentifier(name)) Fail("rule '" + rule.id + "': bad variable name '" + name + "'");
    }
    // Target ops.
    std::set<std::string> target_names;
    for (const RawOp& raw_op : raw.target) {
      line_ = raw_op.line;
      if (source_names.count(raw_op.name) || rule.FindVariable(raw_op.name) >= 0 || target_names.count(raw_op.name)) {
        Fail("rule '" + rule.id + "': target op name '" + raw_op.name + "' is already used by a source op, variable or target op");
      }
      TargetOp op;
      op.name = raw_op.name;
      op.type = raw_op.type;
      op.num_outputs = raw_op.num_outputs;
      for (const std::string& argument : raw_op.arguments) op.inputs.push_back(ParseTargetInput(argument, rule, "target op '" + op.name + "'"));
      for (const std::string& item : raw_op.params) {
        if (item.rfind("copy ", 0) == 0) {
          const std::string from = Trim(item.substr(5));
          op.copy_from = rule.FindSourceOp(from);
          if (op.copy_from < 0) Fail("rule '" + rule.id + "': target op '" + op.name + "' copies parameters from '" + from + "', which is not a source op");
          continue;
        }
        const size_t equals = item.find('=');
        if (equals == std::string::npos) Fail("rule '" + rule.id + "': target parameters are key=expression, key=absent or copy <source op>, found '" + item + "'");
        TargetParam param;
        param.key = Trim(item.substr(0, equals));
        const std::string value = Trim(item.substr(equals + 1));
        if (value == "absent") {
          param.remove = true;
        } else {
          param.value = ParseExpression(value, Where(rule, line_));
          CheckNames(param.value, rule);
        }
        op.params.push_back(std::move(param));
      }
      target_names.insert(op.name);
      rule.target.push_back(std::move(op));
    }
    // Output mappings.
    for (const auto& [text, line] : raw.maps) {
      line_ = line;
      const size_t arrow = text.find("->");
      if (arrow == std::string::npos) Fail("rule '" + rule.id + "': expected 'map <source tensor> -> <target tensor>', found '" + text + "'");
      const auto [source_name, source_output] = SplitTensorName(text.substr(0, arrow));
      OutputMapping mapping;
      mapping.source_op = rule.FindSourceOp(source_name);
      mapping.source_output = source_output;
      if (mapping.source_op < 0 || source_output < 0 || source_output >= rule.source[static_cast<size_t>(mapping.source_op)].num_outputs) {
        Fail("rule '" + rule.id + "': map source '" + Trim(text.substr(0, arrow)) + "' is not an output of a source op");
      }
      for (const OutputMapping& other : rule.maps) {
        if (other.source_op == mapping.source_op && other.source_output == mapping.source_output) {
          Fail("rule '" + rule.id + "': '" + Trim(text.substr(0, arrow)) + "' is mapped twice");
        }
      }
      mapping.target = ParseTargetInput(Trim(text.substr(arrow + 2)), rule, "map");
      if (mapping.target.kind != TargetInput::Kind::kVariable && mapping.target.kind != TargetInput::Kind::kTargetOp) {
        Fail("rule '" + rule.id + "': a map target must be a target op output or an input variable");
      }
      rule.maps.push_back(std::move(mapping));
    }
    for (const auto& [text, line] : raw.constraints) {
      line_ = line;
      Expr expr = ParseExpression(text, Where(rule, line));
      CheckNames(expr, rule);
      rule.constraints.push_back(std::move(expr));
    }
    for (const auto& [text, line] : raw.examples) {
      line_ = line;
      rule.examples.push_back(ParseExample(text, rule));
    }
    rule.match_order = MatchOrder(rule);
    for (TargetOp& op : rule.target) op.name_base = std::make_shared<const std::string>(rule.id + "." + op.name);
    rule.constant_name_base = std::make_shared<const std::string>(rule.id + ".constant");
    return std::move(raw.rule);
  }

  ParamValue LiteralParam(const std::string& text, const Rule& rule, const std::string& what) {
    const Expr expr = ParseExpression(text, Where(rule, line_));
    std::vector<std::string> tensors;
    std::vector<std::string> ops;
    CollectNames(expr, tensors, ops);
    if (!tensors.empty() || !ops.empty() || expr.kind == Expr::Kind::kCall) {
      Fail("rule '" + rule.id + "': " + what + " must be a literal (number, string or list), found '" + text + "'");
    }
    struct NoScope : ExpressionScope {
      Value Param(const std::string&, const std::string&) const override { return Value(); }
      const Params& ParamsOf(const std::string&) const override { return empty; }
      const TensorType& Type(const TensorName&) const override { throw RuleError("no tensors in a literal"); }
      bool IsConstant(const TensorName&) const override { return false; }
      const IntList* IntValues(const TensorName&) const override { return nullptr; }
      Params empty;
    } scope;
    return Evaluate(expr, scope).ToParam(Where(rule, line_) + " " + what);
  }

  TargetInput ParseTargetInput(const std::string& argument, const Rule& rule, const std::string& what) {
    TargetInput input;
    for (const auto& [prefix, kind] : {std::pair<const char*, TargetInput::Kind>{"int64(", TargetInput::Kind::kIntConstant},
                                       {"float32(", TargetInput::Kind::kFloatConstant}}) {
      const std::string start(prefix);
      if (argument.rfind(start, 0) == 0 && argument.back() == ')') {
        input.kind = kind;
        input.value = ParseExpression(argument.substr(start.size(), argument.size() - start.size() - 1), Where(rule, line_));
        CheckNames(input.value, rule);
        return input;
      }
    }
    const auto [name, output] = SplitTensorName(argument);
    if (!IsIdentifier(name) || output < 0) Fail("rule '" + rule.id + "': bad " + what + " input '" + argument + "'");
    input.output = output;
    for (size_t i = 0; i < rule.target.size(); ++i) {
      if (rule.target[i].name == name) {
        input.kind = TargetInput::Kind::kTargetOp;
        input.index = static_cast<int32_t>(i);
        if (output >= rule.target[i].num_outputs) Fail("rule '" + rule.id + "': '" + argument + "' reads an output target op '" + name + "' does not have");
        return input;
      }
    }
    input.kind = TargetInput::Kind::kVariable;
    input.index = rule.FindVariable(name);
    if (input.index < 0 || output != 0) {
      Fail("rule '" + rule.id + "': " + what + " input '" + argument +
           "' is neither an input variable of the source pattern nor an earlier target op (target ops cannot read source ops)");
    }
    return input;
  }

  void CheckNames(const Expr& expr, const Rule& rule) {
    std::vector<std::string> tensors;
    std::vector<std::string> ops;
    CollectNames(expr, tensors, ops);
    for (const std::string& name : tensors) {
      if (rule.FindSourceOp(name) < 0 && rule.FindVariable(name) < 0) {
        Fail("rule '" + rule.id + "': expression '" + expr.text + "' names '" + name + "', which is neither a source op nor an input variable");
      }
    }
    for (const std::string& name : ops) {
      if (rule.FindSourceOp(name) < 0) Fail("rule '" + rule.id + "': expression '" + expr.text + "' reads a parameter of '" + name + "', which is not a source op");
    }
  }

  TensorType ParseTensorType(const std::string& text, const Rule& rule) {
    const size_t open = text.find('[');
    if (open == std::string::npos || text.back() != ']') Fail("rule '" + rule.id + "': expected a tensor type like float32[1,4,8,8], found '" + text + "'");
    TensorType type;
    try {
      type.dtype = DataTypeFromName(Trim(text.substr(0, open)));
    } catch (const GraphError& error) {
      Fail("rule '" + rule.id + "': " + error.what());
    }
    for (const std::string& dim : SplitTopLevel(text.substr(open + 1, text.size() - open - 2), ',')) {
      if (dim.empty()) continue;
      try {
        type.shape.push_back(std::stoll(dim));
      } catch (const std::exception&) {
        Fail("rule '" + rule.id + "': bad dimension '" + dim + "' in '" + text + "'");
      }
    }
    return type;
  }

  RuleExample ParseExample(const std::string& text, const Rule& rule) {
    RuleExample example;
    example.line = line_;
    std::vector<bool> seen(rule.variables.size(), false);
    example.tensors.resize(rule.variables.size());
    for (const std::string& item : SplitTopLevel(text, ';')) {
      if (item.empty()) continue;
      const size_t equals = item.find('=');
      if (equals == std::string::npos) Fail("rule '" + rule.id + "': example items are '<variable> = <kind> <type>' or '<op>.<param> = <literal>', found '" + item + "'");
      const std::string left = Trim(item.substr(0, equals));
      const std::string right = Trim(item.substr(equals + 1));
      const size_t dot = left.find('.');
      if (dot != std::string::npos) {
        ExampleParam param;
        param.source_op = rule.FindSourceOp(left.substr(0, dot));
        if (param.source_op < 0) Fail("rule '" + rule.id + "': example sets a parameter of '" + left.substr(0, dot) + "', which is not a source op");
        param.key = left.substr(dot + 1);
        param.value = LiteralParam(right, rule, "example parameter '" + left + "'");
        example.params.push_back(std::move(param));
        continue;
      }
      const int32_t variable = rule.FindVariable(left);
      if (variable < 0) Fail("rule '" + rule.id + "': example names '" + left + "', which is not an input variable of the source pattern");
      if (seen[static_cast<size_t>(variable)]) Fail("rule '" + rule.id + "': example gives '" + left + "' twice");
      seen[static_cast<size_t>(variable)] = true;
      ExampleTensor& tensor = example.tensors[static_cast<size_t>(variable)];
      tensor.variable = variable;
      const size_t space = right.find(' ');
      tensor.kind = right.substr(0, space);
      if (tensor.kind != "input" && tensor.kind != "weight" && tensor.kind != "positive") {
        Fail("rule '" + rule.id + "': example tensor kind must be input, weight or positive, found '" + tensor.kind + "'");
      }
      std::string type_text = space == std::string::npos ? "" : Trim(right.substr(space));
      const size_t values_at = type_text.find(" values ");
      if (values_at != std::string::npos) {
        const ParamValue values = LiteralParam(Trim(type_text.substr(values_at + 8)), rule, "example values of '" + left + "'");
        if (KindOf(values) != ParamKind::kIntList) Fail("rule '" + rule.id + "': example values of '" + left + "' must be an int list");
        tensor.has_values = true;
        tensor.values = std::get<IntList>(values);
        type_text = Trim(type_text.substr(0, values_at));
      }
      tensor.type = ParseTensorType(type_text, rule);
      if (tensor.has_values && static_cast<int64_t>(tensor.values.size()) != tensor.type.NumElements()) {
        Fail("rule '" + rule.id + "': example values of '" + left + "' do not fill " + TensorTypeToString(tensor.type));
      }
      if (tensor.has_values && tensor.kind == "input") Fail("rule '" + rule.id + "': only weights carry example values");
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (!seen[i]) Fail("rule '" + rule.id + "': example gives no type for input variable '" + rule.variables[i] + "'");
    }
    return example;
  }

  static std::vector<int32_t> MatchOrder(const Rule& rule) {
    const auto count = static_cast<int32_t>(rule.source.size());
    std::vector<bool> placed(static_cast<size_t>(count), false);
    std::vector<bool> bound(rule.variables.size(), false);
    std::vector<int32_t> order;
    auto place = [&](int32_t index) {
      placed[static_cast<size_t>(index)] = true;
      order.push_back(index);
      for (const SourceInput& input : rule.source[static_cast<size_t>(index)].inputs) {
        if (input.op < 0) bound[static_cast<size_t>(input.variable)] = true;
      }
    };
    // The sink first: its producers then come from edges, one candidate each.
    place(count - 1);
    while (static_cast<int32_t>(order.size()) < count) {
      int32_t chosen = -1;
      // A producer of a placed op: exactly one candidate.
      for (int32_t placed_op : order) {
        for (const SourceInput& input : rule.source[static_cast<size_t>(placed_op)].inputs) {
          if (chosen < 0 && input.op >= 0 && !placed[static_cast<size_t>(input.op)]) chosen = input.op;
        }
      }
      // A consumer of a placed op or of a bound variable: few candidates.
      for (int32_t i = count - 1; chosen < 0 && i >= 0; --i) {
        if (placed[static_cast<size_t>(i)]) continue;
        for (const SourceInput& input : rule.source[static_cast<size_t>(i)].inputs) {
          if ((input.op >= 0 && placed[static_cast<size_t>(input.op)]) || (input.op < 0 && bound[static_cast<size_t>(input.variable)])) {
            chosen = i;
          }
        }
      }
      for (int32_t i = count - 1; chosen < 0 && i >= 0; --i) {
        if (!placed[static_cast<size_t>(i)]) chosen = i;
      }
      place(chosen);
    }
    return order;
  }

  const std::string& text_;
  const std::string& file_;
  int32_t line_ = 0;
};

}  // namespace

std::string Rule::Where() const { return file + ":" + std::to_string(line) + " rule '" + id + "'"; }

int32_t Rule::FindSourceOp(const std::string& name) const {
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i].name == name) return static_cast<int32_t>(i);
  }
  return -1;
}

int32_t Rule::FindVariable(const std::string& name) const {
  for (size_t i = 0; i < variables.size(); ++i) {
    if (variables[i] == name) return static_cast<int32_t>(i);
  }
  return -1;
}

std::vector<Rule> ParseRules(const std::string& text, const std::string& file) { return RuleFileParser(text, file).Parse(); }

}  // namespace xflow
