// Names, sizes and text forms of the IR value types (see types.h).
#include "engine/types.h"

#include <array>
#include <cstdio>

#include "engine/errors.h"

namespace xflow {
namespace {

struct DataTypeInfo {
  DataType dtype;
  std::string name;
  int64_t size;
};

const std::vector<DataTypeInfo>& DataTypeTable() {
  static const std::vector<DataTypeInfo> table = {
      {DataType::kUndefined, "undefined", 0}, {DataType::kFloat32, "float32", 4},
      {DataType::kUint8, "uint8", 1},         {DataType::kInt8, "int8", 1},
      {DataType::kUint16, "uint16", 2},       {DataType::kInt16, "int16", 2},
      {DataType::kInt32, "int32", 4},         {DataType::kInt64, "int64", 8},
      {DataType::kString, "string", 8},       {DataType::kBool, "bool", 1},
      {DataType::kFloat16, "float16", 2},     {DataType::kFloat64, "float64", 8},
      {DataType::kUint32, "uint32", 4},       {DataType::kUint64, "uint64", 8},
      {DataType::kComplex64, "complex64", 8}, {DataType::kComplex128, "complex128", 16},
      {DataType::kBfloat16, "bfloat16", 2},
  };
  return table;
}

std::string ValidDataTypeNames() {
  std::string names;
  for (const DataTypeInfo& info : DataTypeTable()) {
    if (info.dtype == DataType::kUndefined) continue;
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

}  // namespace

const std::string& DataTypeName(DataType dtype) {
  const auto& table = DataTypeTable();
  const auto index = static_cast<size_t>(dtype);
  return index < table.size() ? table[index].name : table[0].name;
}

DataType DataTypeFromName(const std::string& name) {
  for (const DataTypeInfo& info : DataTypeTable()) {
    if (info.name == name && info.dtype != DataType::kUndefined) return info.dtype;
  }
  throw GraphError("unknown dtype '" + name + "'; expected one of: " + ValidDataTypeNames());
}

DataType DataTypeFromOnnxCode(int32_t code) {
  if (code <= 0 || code >= static_cast<int32_t>(DataTypeTable().size())) {
    throw GraphError("unsupported ONNX element type code " + std::to_string(code) + "; expected 1..16 (" +
                     ValidDataTypeNames() + ")");
  }
  return static_cast<DataType>(code);
}

int64_t DataTypeSize(DataType dtype) {
  const auto index = static_cast<size_t>(dtype);
  return index < DataTypeTable().size() ? DataTypeTable()[index].size : 0;
}

bool IsIntegerType(DataType dtype) {
  switch (dtype) {
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kUint16:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUint32:
    case DataType::kUint64:
      return true;
    default:
      return false;
  }
}

bool IsFloatType(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat16:
    case DataType::kBfloat16:
    case DataType::kFloat32:
    case DataType::kFloat64:
      return true;
    default:
      return false;
  }
}

int64_t TensorType::NumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string ShapeToString(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string TensorTypeToString(const TensorType& type) { return DataTypeName(type.dtype) + ShapeToString(type.shape); }

const char* ParamKindName(ParamKind kind) {
  static const std::array<const char*, 5> names = {"int", "float", "int list", "float list", "string"};
  return names[static_cast<size_t>(kind)];
}

namespace {
std::string FloatToString(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}
}  // namespace

std::string ParamValueToString(const ParamValue& value) {
  switch (KindOf(value)) {
    case ParamKind::kInt:
      return std::to_string(std::get<int64_t>(value));
    case ParamKind::kFloat:
      return FloatToString(std::get<double>(value));
    case ParamKind::kIntList:
      return ShapeToString(std::get<IntList>(value));
    case ParamKind::kFloatList: {
      std::string text = "[";
      const FloatList& list = std::get<FloatList>(value);
      for (size_t i = 0; i < list.size(); ++i) {
        if (i) text += ",";
        text += FloatToString(list[i]);
      }
      return text + "]";
    }
    case ParamKind::kString:
      return "\"" + std::get<std::string>(value) + "\"";
  }
  return "";
}

}  // namespace xflow
