// Values, parsing and evaluation of rule expressions (see expression.h).
#include "engine/expression.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "engine/errors.h"

namespace xflow {

Value Value::Bool(bool value) {
  Value result;
  result.kind = Kind::kBool;
  result.boolean = value;
  return result;
}

Value Value::Int(int64_t value) {
  Value result;
  result.kind = Kind::kInt;
  result.integer = value;
  return result;
}

Value Value::Float(double value) {
  Value result;
  result.kind = Kind::kFloat;
  result.number = value;
  return result;
}

Value Value::String(std::string value) {
  Value result;
  result.kind = Kind::kString;
  result.text = std::move(value);
  return result;
}

Value Value::Ints(IntList value) {
  Value result;
  result.kind = Kind::kIntList;
  result.ints = std::move(value);
  return result;
}

Value Value::Floats(FloatList value) {
  Value result;
  result.kind = Kind::kFloatList;
  result.floats = std::move(value);
  return result;
}

Value Value::FromParam(const ParamValue& value) {
  switch (KindOf(value)) {
    case ParamKind::kInt:
      return Int(std::get<int64_t>(value));
    case ParamKind::kFloat:
      return Float(std::get<double>(value));
    case ParamKind::kIntList:
      return Ints(std::get<IntList>(value));
    case ParamKind::kFloatList:
      return Floats(std::get<FloatList>(value));
    case ParamKind::kString:
      return String(std::get<std::string>(value));
  }
  return Absent();
}

ParamValue Value::ToParam(const std::string& where) const {
  switch (kind) {
    case Kind::kInt:
      return integer;
    case Kind::kFloat:
      return number;
    case Kind::kString:
      return text;
    case Kind::kIntList:
      return ints;
    case Kind::kFloatList:
      return floats;
    default:
      throw RuleError(where + ": a parameter value must be an int, float, string or list, got " + KindName());
  }
}

const char* Value::KindName() const {
  switch (kind) {
    case Kind::kAbsent:
      return "absent";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kIntList:
      return "int list";
    case Kind::kFloatList:
      return "float list";
  }
  return "?";
}

std::string Value::ToString() const {
  switch (kind) {
    case Kind::kAbsent:
      return "absent";
    case Kind::kBool:
      return boolean ? "true" : "false";
    default:
      return ParamValueToString(ToParam(""));
  }
}

bool operator==(const Value& left, const Value& right) {
  // An int list and a float list holding the same numbers are equal, as are
  // an int and a float: rule authors should not have to care.
  if (left.kind == Value::Kind::kInt && right.kind == Value::Kind::kFloat) return static_cast<double>(left.integer) == right.number;
  if (left.kind == Value::Kind::kFloat && right.kind == Value::Kind::kInt) return left.number == static_cast<double>(right.integer);
  if (left.IsList() && right.IsList() && left.kind != right.kind) {
    const IntList& ints = left.kind == Value::Kind::kIntList ? left.ints : right.ints;
    const FloatList& floats = left.kind == Value::Kind::kFloatList ? left.floats : right.floats;
    if (ints.size() != floats.size()) return false;
    for (size_t i = 0; i < ints.size(); ++i) {
      if (static_cast<double>(ints[i]) != floats[i]) return false;
    }
    return true;
  }
  if (left.kind != right.kind) return false;
  switch (left.kind) {
    case Value::Kind::kAbsent:
      return true;
    case Value::Kind::kBool:
      return left.boolean == right.boolean;
    case Value::Kind::kInt:
      return left.integer == right.integer;
    case Value::Kind::kFloat:
      return left.number == right.number;
    case Value::Kind::kString:
      return left.text == right.text;
    case Value::Kind::kIntList:
      return left.ints == right.ints;
    case Value::Kind::kFloatList:
      return left.floats == right.floats;
  }
  return false;
}

// ------------------------------------------------------------------ parsing

namespace {

struct Token {
  enum class Kind { kEnd, kIdentifier, kInt, kFloat, kString, kSymbol };
  Kind kind = Kind::kEnd;
  std::string text;
  size_t column = 0;
};

std::vector<Token> Tokenize(const std::string& text, const std::string& where) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token;
    token.column = i + 1;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = i;
      while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
      token.kind = Token::Kind::kIdentifier;
      token.text = text.substr(i, end - i);
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = i;
      bool is_float = false;
      while (end < text.size()) {
        const char d = text[end];
        if (std::isdigit(static_cast<unsigned char>(d))) {
          ++end;
        } else if (d == '.' || d == 'e' || d == 'E') {
          is_float = true;
          ++end;
          if ((d == 'e' || d == 'E') && end < text.size() && (text[end] == '-' || text[end] == '+')) ++end;
        } else {
          break;
        }
      }
      token.kind = is_float ? Token::Kind::kFloat : Token::Kind::kInt;
      token.text = text.substr(i, end - i);
      i = end;
    } else if (c == '"') {
      const size_t end = text.find('"', i + 1);
      if (end == std::string::npos) throw RuleError(where + ": unterminated string at column " + std::to_string(i + 1));
      token.kind = Token::Kind::kString;
      token.text = text.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      static const char* const kTwoCharacter[] = {"??", "==", "!=", "<=", ">=", "&&", "||"};
      token.kind = Token::Kind::kSymbol;
      token.text = std::string(1, c);
      for (const char* symbol : kTwoCharacter) {
        if (text.compare(i, 2, symbol) == 0) token.text = symbol;
      }
      if (token.text.size() == 1 && std::string("()[],.:<>+-*/%!").find(c) == std::string::npos) {
        throw RuleError(where + ": unexpected character '" + std::string(1, c) + "' at column " + std::to_string(i + 1) +
                        " in expression '" + text + "'");
      }
      i += token.text.size();
    }
    tokens.push_back(token);
  }
  Token end;
  end.column = text.size() + 1;
  tokens.push_back(end);
  return tokens;
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& where) : text_(text), where_(where), tokens_(Tokenize(text, where)) {}

  Expr ParseAll() {
    Expr expr = ParseBinary(0);
    if (Peek().kind != Token::Kind::kEnd) Fail("unexpected '" + Peek().text + "'");
    return expr;
  }

 private:
  const Token& Peek() const { return tokens_[position_]; }
  Token Next() { return tokens_[position_++]; }
  bool Accept(const std::string& symbol) {
    if (Peek().kind == Token::Kind::kSymbol && Peek().text == symbol) {
      ++position_;
      return true;
    }
    return false;
  }
  void Expect(const std::string& symbol) {
    if (!Accept(symbol)) Fail("expected '" + symbol + "' but found '" + (Peek().kind == Token::Kind::kEnd ? std::string("end") : Peek().text) + "'");
  }
  [[noreturn]] void Fail(const std::string& message) const {
    throw RuleError(where_ + ": " + message + " at column " + std::to_string(Peek().column) + " of expression '" + text_ + "'");
  }

  static int Precedence(const std::string& symbol) {
    if (symbol == "??") return 1;
    if (symbol == "||") return 2;
    if (symbol == "&&") return 3;
    if (symbol == "==" || symbol == "!=" || symbol == "<" || symbol == "<=" || symbol == ">" || symbol == ">=") return 4;
    if (symbol == "+" || symbol == "-") return 5;
    if (symbol == "*" || symbol == "/" || symbol == "%") return 6;
    return -1;
  }

  Expr ParseBinary(int min_precedence) {
    Expr left = ParseUnary();
    while (Peek().kind == Token::Kind::kSymbol) {
      const std::string symbol = Peek().text;
      const int precedence = Precedence(symbol);
      if (precedence < 0 || precedence < min_precedence) break;
      ++position_;
      Expr right = ParseBinary(precedence + 1);
      Expr node;
      node.kind = Expr::Kind::kBinary;
      node.name = symbol;
      node.children = {std::move(left), std::move(right)};
      left = std::move(node);
    }
    return left;
  }

  Expr ParseUnary() {
    if (Peek().kind == Token::Kind::kSymbol && (Peek().text == "-" || Peek().text == "!")) {
      const std::string symbol = Next().text;
      Expr node;
      node.kind = Expr::Kind::kUnary;
      node.name = symbol;
      node.children = {ParseUnary()};
      return node;
    }
    Expr expr = ParsePrimary();
    while (Accept("[")) {
      Expr node;
      node.kind = Expr::Kind::kIndex;
      node.children = {std::move(expr), ParseBinary(0)};
      Expect("]");
      expr = std::move(node);
    }
    return expr;
  }

  Expr ParsePrimary() {
    const Token token = Next();
    Expr expr;
    switch (token.kind) {
      case Token::Kind::kInt:
        expr.literal = Value::Int(std::stoll(token.text));
        return expr;
      case Token::Kind::kFloat:
        try {
          expr.literal = Value::Float(std::stod(token.text));
        } catch (const std::exception&) {
          --position_;
          Fail("bad number '" + token.text + "'");
        }
        return expr;
      case Token::Kind::kString:
        expr.literal = Value::String(token.text);
        return expr;
      case Token::Kind::kSymbol:
        if (token.text == "(") {
          expr = ParseBinary(0);
          Expect(")");
          return expr;
        }
        if (token.text == "[") {
          expr.kind = Expr::Kind::kList;
          if (!Accept("]")) {
            do {
              expr.children.push_back(ParseBinary(0));
            } while (Accept(","));
            Expect("]");
          }
          return expr;
        }
        --position_;
        Fail("unexpected '" + token.text + "'");
      case Token::Kind::kEnd:
        --position_;
        Fail("the expression ends early");
      case Token::Kind::kIdentifier:
        break;
    }
    if (token.text == "true" || token.text == "false") {
      expr.literal = Value::Bool(token.text == "true");
      return expr;
    }
    if (token.text == "absent") return expr;
    if (Accept("(")) {
      expr.kind = Expr::Kind::kCall;
      expr.name = token.text;
      if (!Accept(")")) {
        do {
          expr.children.push_back(ParseBinary(0));
        } while (Accept(","));
        Expect(")");
      }
      return expr;
    }
    if (Accept(".")) {
      if (Peek().kind != Token::Kind::kIdentifier) Fail("expected a parameter name after '" + token.text + ".'");
      expr.kind = Expr::Kind::kParam;
      expr.name = token.text;
      expr.param = Next().text;
      return expr;
    }
    expr.kind = Expr::Kind::kTensor;
    expr.name = token.text;
    if (Accept(":")) {
      if (Peek().kind != Token::Kind::kInt) Fail("expected an output index after '" + token.text + ":'");
      expr.output = static_cast<int32_t>(std::stoll(Next().text));
    }
    return expr;
  }

  const std::string& text_;
  const std::string& where_;
  std::vector<Token> tokens_;
  size_t position_ = 0;
};

void SetText(Expr& expr, const std::string& text) {
  expr.text = text;
  for (Expr& child : expr.children) SetText(child, text);
}

}  // namespace

Expr ParseExpression(const std::string& text, const std::string& where) {
  Parser parser(text, where);
  Expr expr = parser.ParseAll();
  SetText(expr, text);
  return expr;
}

void CollectNames(const Expr& expr, std::vector<std::string>& tensors, std::vector<std::string>& ops) {
  if (expr.kind == Expr::Kind::kTensor) tensors.push_back(expr.name);
  if (expr.kind == Expr::Kind::kParam) ops.push_back(expr.name);
  for (const Expr& child : expr.children) CollectNames(child, tensors, ops);
}

// ------------------------------------------------------------------ evaluation

namespace {

[[noreturn]] void EvalFail(const Expr& expr, const std::string& message) {
  throw RuleError("in expression '" + expr.text + "': " + message);
}

int64_t AsInt(const Expr& expr, const Value& value) {
  if (value.kind != Value::Kind::kInt) EvalFail(expr, std::string("expected an int, got ") + value.KindName() + " " + value.ToString());
  return value.integer;
}

double AsNumber(const Expr& expr, const Value& value) {
  if (value.kind == Value::Kind::kInt) return static_cast<double>(value.integer);
  if (value.kind == Value::Kind::kFloat) return value.number;
  EvalFail(expr, std::string("expected a number, got ") + value.KindName() + " " + value.ToString());
}

bool AsBool(const Expr& expr, const Value& value) {
  if (value.kind != Value::Kind::kBool) EvalFail(expr, std::string("expected a bool, got ") + value.KindName() + " " + value.ToString());
  return value.boolean;
}

const IntList& AsInts(const Expr& expr, const Value& value) {
  if (value.kind != Value::Kind::kIntList) EvalFail(expr, std::string("expected an int list, got ") + value.KindName() + " " + value.ToString());
  return value.ints;
}

// Builds a list value from items, int when every item is an int.
Value MakeList(const Expr& expr, const std::vector<Value>& items) {
  bool all_ints = true;
  for (const Value& item : items) {
    if (item.kind != Value::Kind::kInt && item.kind != Value::Kind::kFloat) {
      EvalFail(expr, std::string("list items must be numbers, got ") + item.KindName());
    }
    all_ints = all_ints && item.kind == Value::Kind::kInt;
  }
  if (all_ints) {
    IntList ints;
    for (const Value& item : items) ints.push_back(item.integer);
    return Value::Ints(std::move(ints));
  }
  FloatList floats;
  for (const Value& item : items) floats.push_back(AsNumber(expr, item));
  return Value::Floats(std::move(floats));
}

std::vector<Value> ListItems(const Expr& expr, const Value& value) {
  std::vector<Value> items;
  if (value.kind == Value::Kind::kIntList) {
    for (int64_t item : value.ints) items.push_back(Value::Int(item));
  } else if (value.kind == Value::Kind::kFloatList) {
    for (double item : value.floats) items.push_back(Value::Float(item));
  } else {
    EvalFail(expr, std::string("expected a list, got ") + value.KindName() + " " + value.ToString());
  }
  return items;
}

TensorName TensorArgument(const Expr& call, size_t index) {
  if (index >= call.children.size() || call.children[index].kind != Expr::Kind::kTensor) {
    EvalFail(call, call.name + "() argument " + std::to_string(index + 1) + " must name a tensor");
  }
  return TensorName{call.children[index].name, call.children[index].output};
}

void ExpectArguments(const Expr& call, size_t count) {
  if (call.children.size() != count) {
    EvalFail(call, call.name + "() takes " + std::to_string(count) + " arguments, got " + std::to_string(call.children.size()));
  }
}

Value ArithmeticInts(const Expr& expr, const std::string& op, int64_t a, int64_t b) {
  if (op == "+") return Value::Int(a + b);
  if (op == "-") return Value::Int(a - b);
  if (op == "*") return Value::Int(a * b);
  if (b == 0) EvalFail(expr, "division by zero");
  int64_t quotient = a / b;
  int64_t remainder = a % b;
  if (remainder != 0 && ((remainder < 0) != (b < 0))) {
    --quotient;
    remainder += b;
  }
  return Value::Int(op == "/" ? quotient : remainder);
}

Value EvaluateCall(const Expr& call, const ExpressionScope& scope) {
  const std::string& name = call.name;
  if (name == "dim") {
    ExpectArguments(call, 2);
    const Shape& shape = scope.Type(TensorArgument(call, 0)).shape;
    int64_t axis = AsInt(call, Evaluate(call.children[1], scope));
    const auto rank = static_cast<int64_t>(shape.size());
    if (axis < -rank || axis >= rank) EvalFail(call, "axis " + std::to_string(axis) + " out of range for shape " + ShapeToString(shape));
    if (axis < 0) axis += rank;
    return Value::Int(shape[static_cast<size_t>(axis)]);
  }
  if (name == "rank" || name == "shape" || name == "numel" || name == "const" || name == "values" || name == "is_float") {
    ExpectArguments(call, 1);
    const TensorName tensor = TensorArgument(call, 0);
    if (name == "rank") return Value::Int(static_cast<int64_t>(scope.Type(tensor).shape.size()));
    if (name == "is_float") return Value::Bool(IsFloatType(scope.Type(tensor).dtype));
    if (name == "shape") return Value::Ints(scope.Type(tensor).shape);
    if (name == "numel") return Value::Int(scope.Type(tensor).NumElements());
    if (name == "const") return Value::Bool(scope.IsConstant(tensor));
    const IntList* values = scope.IntValues(tensor);
    return values ? Value::Ints(*values) : Value::Absent();
  }
  if (name == "same_params") {
    if (call.children.size() < 2 || call.children[0].kind != Expr::Kind::kTensor || call.children[1].kind != Expr::Kind::kTensor) {
      EvalFail(call, "same_params(a, b, \"except\", ...) needs two source op names");
    }
    std::vector<std::string> exceptions;
    for (size_t i = 2; i < call.children.size(); ++i) {
      Value key = Evaluate(call.children[i], scope);
      if (key.kind != Value::Kind::kString) EvalFail(call, "same_params exceptions must be strings");
      exceptions.push_back(std::move(key.text));
    }
    // Both maps are ordered by name: walk them side by side, skipping the
    // exceptions (the matcher asks this for many op pairs; no copies).
    const Params& left = scope.ParamsOf(call.children[0].name);
    const Params& right = scope.ParamsOf(call.children[1].name);
    auto excepted = [&](const std::string& key) { return std::find(exceptions.begin(), exceptions.end(), key) != exceptions.end(); };
    auto l = left.begin();
    auto r = right.begin();
    while (true) {
      while (l != left.end() && excepted(l->first)) ++l;
      while (r != right.end() && excepted(r->first)) ++r;
      if (l == left.end() || r == right.end()) return Value::Bool(l == left.end() && r == right.end());
      if (l->first != r->first || !(l->second == r->second)) return Value::Bool(false);
      ++l;
      ++r;
    }
  }
  std::vector<Value> arguments;
  arguments.reserve(call.children.size());
  for (const Expr& child : call.children) arguments.push_back(Evaluate(child, scope));
  if (name == "len") {
    ExpectArguments(call, 1);
    return Value::Int(static_cast<int64_t>(ListItems(call, arguments[0]).size()));
  }
  if (name == "sum" || name == "product") {
    ExpectArguments(call, 1);
    Value total = Value::Int(name == "sum" ? 0 : 1);
    for (const Value& item : ListItems(call, arguments[0])) {
      if (total.kind == Value::Kind::kInt && item.kind == Value::Kind::kInt) {
        total.integer = name == "sum" ? total.integer + item.integer : total.integer * item.integer;
      } else {
        const double a = AsNumber(call, total);
        const double b = AsNumber(call, item);
        total = Value::Float(name == "sum" ? a + b : a * b);
      }
    }
    return total;
  }
  if (name == "repeat") {
    ExpectArguments(call, 2);
    const int64_t count = AsInt(call, arguments[1]);
    if (count < 0) EvalFail(call, "repeat count must be >= 0");
    return MakeList(call, std::vector<Value>(static_cast<size_t>(count), arguments[0]));
  }
  if (name == "concat") {
    std::vector<Value> items;
    for (const Value& argument : arguments) {
      for (Value& item : ListItems(call, argument)) items.push_back(std::move(item));
    }
    return MakeList(call, items);
  }
  if (name == "iota") {
    ExpectArguments(call, 1);
    IntList result;
    for (int64_t i = 0; i < AsInt(call, arguments[0]); ++i) result.push_back(i);
    return Value::Ints(std::move(result));
  }
  if (name == "compose") {
    ExpectArguments(call, 2);
    const IntList& first = AsInts(call, arguments[0]);
    const IntList& second = AsInts(call, arguments[1]);
    IntList result;
    for (int64_t index : second) {
      if (index < 0 || index >= static_cast<int64_t>(first.size())) EvalFail(call, "permutations differ in length");
      result.push_back(first[static_cast<size_t>(index)]);
    }
    return Value::Ints(std::move(result));
  }
  if (name == "inverse") {
    ExpectArguments(call, 1);
    const IntList& permutation = AsInts(call, arguments[0]);
    IntList result(permutation.size(), -1);
    for (size_t i = 0; i < permutation.size(); ++i) {
      const int64_t target = permutation[i];
      if (target < 0 || target >= static_cast<int64_t>(permutation.size()) || result[static_cast<size_t>(target)] >= 0) {
        EvalFail(call, "not a permutation: " + ShapeToString(permutation));
      }
      result[static_cast<size_t>(target)] = static_cast<int64_t>(i);
    }
    return Value::Ints(std::move(result));
  }
  if (name == "float") {
    ExpectArguments(call, 1);
    if (arguments[0].IsList()) {
      FloatList result;
      for (const Value& item : ListItems(call, arguments[0])) result.push_back(AsNumber(call, item));
      return Value::Floats(std::move(result));
    }
    return Value::Float(AsNumber(call, arguments[0]));
  }
  EvalFail(call, "unknown function '" + name + "'");
}

}  // namespace

Value Evaluate(const Expr& expr, const ExpressionScope& scope) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return expr.literal;
    case Expr::Kind::kList: {
      std::vector<Value> items;
      items.reserve(expr.children.size());
      for (const Expr& child : expr.children) items.push_back(Evaluate(child, scope));
      return MakeList(expr, items);
    }
    case Expr::Kind::kParam:
      return scope.Param(expr.name, expr.param);
    case Expr::Kind::kTensor:
      EvalFail(expr, "the tensor '" + expr.name + "' can only be used as a function argument (dim, shape, ...)");
    case Expr::Kind::kCall:
      return EvaluateCall(expr, scope);
    case Expr::Kind::kIndex: {
      const std::vector<Value> items = ListItems(expr, Evaluate(expr.children[0], scope));
      int64_t index = AsInt(expr, Evaluate(expr.children[1], scope));
      const auto size = static_cast<int64_t>(items.size());
      if (index < -size || index >= size) EvalFail(expr, "index " + std::to_string(index) + " out of range for a list of " + std::to_string(size));
      return items[static_cast<size_t>(index < 0 ? index + size : index)];
    }
    case Expr::Kind::kUnary: {
      const Value operand = Evaluate(expr.children[0], scope);
      if (expr.name == "!") return Value::Bool(!AsBool(expr, operand));
      if (operand.kind == Value::Kind::kInt) return Value::Int(-operand.integer);
      return Value::Float(-AsNumber(expr, operand));
    }
    case Expr::Kind::kBinary:
      break;
  }
  const std::string& op = expr.name;
  if (op == "&&" || op == "||") {
    const bool left = AsBool(expr, Evaluate(expr.children[0], scope));
    if (op == "&&" && !left) return Value::Bool(false);
    if (op == "||" && left) return Value::Bool(true);
    return Value::Bool(AsBool(expr, Evaluate(expr.children[1], scope)));
  }
  const Value left = Evaluate(expr.children[0], scope);
  if (op == "??") return left.IsAbsent() ? Evaluate(expr.children[1], scope) : left;
  const Value right = Evaluate(expr.children[1], scope);
  if (op == "==") return Value::Bool(left == right);
  if (op == "!=") return Value::Bool(!(left == right));
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    const double a = AsNumber(expr, left);
    const double b = AsNumber(expr, right);
    if (op == "<") return Value::Bool(a < b);
    if (op == "<=") return Value::Bool(a <= b);
    if (op == ">") return Value::Bool(a > b);
    return Value::Bool(a >= b);
  }
  if (op == "+" && left.IsList() && right.IsList()) EvalFail(expr, "use concat(a, b) to join lists");
  if (left.kind == Value::Kind::kInt && right.kind == Value::Kind::kInt) return ArithmeticInts(expr, op, left.integer, right.integer);
  const double a = AsNumber(expr, left);
  const double b = AsNumber(expr, right);
  if (op == "+") return Value::Float(a + b);
  if (op == "-") return Value::Float(a - b);
  if (op == "*") return Value::Float(a * b);
  if (op == "/") return Value::Float(a / b);
  return Value::Float(std::fmod(a, b));
}

}  // namespace xflow
