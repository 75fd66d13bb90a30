// Value types of the graph IR.
//
//   DataType     element types, numbered as ONNX TensorProto.DataType so the
//                ONNX bridge needs no translation table.
//   TensorType   a dtype and a fully known shape.
//   ParamValue   a typed op parameter: int, float, int list, float list or
//                string (the five ONNX attribute kinds the engine reasons on).
//   Params       parameters sorted by name, so iteration order (and thus the
//                hash, the cost key and the serialized bytes) is canonical.
#ifndef RLGRAPH_XFLOW_ENGINE_TYPES_H_
#define RLGRAPH_XFLOW_ENGINE_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace xflow {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBfloat16 = 16,
};

// Name used in Python and in cost keys ("float32", "int64", ...).
const std::string& DataTypeName(DataType dtype);
// Inverse of DataTypeName; throws GraphError naming the valid names.
DataType DataTypeFromName(const std::string& name);
// Inverse of the ONNX numbering; throws GraphError for unknown codes.
DataType DataTypeFromOnnxCode(int32_t code);
// Bytes per element (strings count as pointer-sized, 8).
int64_t DataTypeSize(DataType dtype);
bool IsIntegerType(DataType dtype);
// float16, bfloat16, float32, float64.
bool IsFloatType(DataType dtype);

using Shape = std::vector<int64_t>;

struct TensorType {
  DataType dtype = DataType::kFloat32;
  Shape shape;

  int64_t NumElements() const;
  int64_t NumBytes() const { return NumElements() * DataTypeSize(dtype); }
  bool operator==(const TensorType& other) const { return dtype == other.dtype && shape == other.shape; }
  bool operator!=(const TensorType& other) const { return !(*this == other); }
};

// "[1,3,224,224]"
std::string ShapeToString(const Shape& shape);
// "float32[1,3,224,224]"
std::string TensorTypeToString(const TensorType& type);

using IntList = std::vector<int64_t>;
using FloatList = std::vector<double>;
using ParamValue = std::variant<int64_t, double, IntList, FloatList, std::string>;
using Params = std::map<std::string, ParamValue>;

// Index of each alternative in ParamValue; also the tag byte in serialized
// graphs, so the numbering is part of the file format.
enum class ParamKind : uint8_t { kInt = 0, kFloat = 1, kIntList = 2, kFloatList = 3, kString = 4 };

const char* ParamKindName(ParamKind kind);
inline ParamKind KindOf(const ParamValue& value) { return static_cast<ParamKind>(value.index()); }
// Canonical text of a value, used in cost keys; floats print with enough
// digits to be exact (%.17g).
std::string ParamValueToString(const ParamValue& value);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_TYPES_H_
