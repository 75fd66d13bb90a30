// The small expression language of rule files (constraints and computed
// parameters), evaluated against a match.
//
//   Value            a dynamically typed value: absent, bool, int, float,
//                    string, int list or float list.
//   Expr             a parsed expression tree.
//   ExpressionScope  what an expression can look up: op parameters and
//                    tensor facts (type, constness, constant int values) of
//                    the rule's named tensors.
//   ParseExpression  text -> Expr; throws RuleError naming the column.
//   Evaluate         Expr -> Value; throws RuleError on a type mismatch.
//
// Syntax (C-like precedence, lowest first): `a ?? b` (b when a is absent),
// `||`, `&&`, `== != < <= > >=`, `+ -`, `* / %` (integer `/` floors), unary
// `- !`, postfix `[i]` (list item; negative counts from the end). Atoms:
// integers, floats, "strings", [lists], true, false, absent, `op.param` (a
// source op's parameter, absent when the op lacks it) and calls:
//   dim(t, i)  rank(t)  shape(t)  numel(t)  const(t)  values(t)
//   is_float(t)  (a floating-point element type: where division distributes)
//   len(l)  sum(l)  product(l)  repeat(v, n)  concat(l1, l2, ...)
//   compose(p1, p2)  (permutation p1 then p2: result[i] = p1[p2[i]])
//   iota(n)  (the list 0..n-1)  inverse(p)  (inverse permutation)
//   same_params(a, b, "except1", ...)  (raw parameter maps equal)
//   float(v)
// where t names a tensor: an input variable, or a source op (output 0) or
// `op:k` (output k).
#ifndef RLGRAPH_XFLOW_ENGINE_EXPRESSION_H_
#define RLGRAPH_XFLOW_ENGINE_EXPRESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/types.h"

namespace xflow {

struct Value {
  enum class Kind { kAbsent, kBool, kInt, kFloat, kString, kIntList, kFloatList };
  Kind kind = Kind::kAbsent;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;
  IntList ints;
  FloatList floats;

  static Value Absent() { return Value(); }
  static Value Bool(bool value);
  static Value Int(int64_t value);
  static Value Float(double value);
  static Value String(std::string value);
  static Value Ints(IntList value);
  static Value Floats(FloatList value);
  static Value FromParam(const ParamValue& value);

  bool IsAbsent() const { return kind == Kind::kAbsent; }
  bool IsList() const { return kind == Kind::kIntList || kind == Kind::kFloatList; }
  // Converts to an op parameter; throws RuleError for absent/bool values.
  ParamValue ToParam(const std::string& where) const;
  std::string ToString() const;
  const char* KindName() const;
};

bool operator==(const Value& left, const Value& right);

// A reference to one output of a named rule tensor.
struct TensorName {
  std::string name;
  int32_t output = 0;
};

class ExpressionScope {
 public:
  virtual ~ExpressionScope() = default;
  // The parameter `param` of source op `op`; Absent when the op lacks it.
  // Throws RuleError when `op` is not a source op of the rule.
  virtual Value Param(const std::string& op, const std::string& param) const = 0;
  // Raw parameters of source op `op` (for same_params).
  virtual const Params& ParamsOf(const std::string& op) const = 0;
  virtual const TensorType& Type(const TensorName& tensor) const = 0;
  // True when the tensor's value is known before run time.
  virtual bool IsConstant(const TensorName& tensor) const = 0;
  // Constant integer values of the tensor, or null.
  virtual const IntList* IntValues(const TensorName& tensor) const = 0;
};

struct Expr {
  enum class Kind { kLiteral, kList, kParam, kTensor, kUnary, kBinary, kCall, kIndex };
  Kind kind = Kind::kLiteral;
  Value literal;
  std::string name;   // op var (kParam), tensor (kTensor), function (kCall), operator (kUnary/kBinary)
  std::string param;  // kParam
  int32_t output = 0; // kTensor
  std::vector<Expr> children;
  std::string text;   // source text, for error messages
};

// Parses a whole expression; `where` prefixes errors ("rules/x.rules:12 rule 'r'").
Expr ParseExpression(const std::string& text, const std::string& where);
Value Evaluate(const Expr& expr, const ExpressionScope& scope);
// Every tensor name and op name an expression mentions (for load-time checks).
void CollectNames(const Expr& expr, std::vector<std::string>& tensors, std::vector<std::string>& ops);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_EXPRESSION_H_
