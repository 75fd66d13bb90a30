// Graph::ToBytes / Graph::FromBytes: a compact, versioned binary form.
//
// Layout: the magic "XFLOWGRAPH", a format version byte, then
//   varint op count; per op: type, name (strings: varint length + bytes),
//     varint param count; per param: key, kind byte, value (ints zigzag
//     varints, floats 8 bytes little-endian, lists varint count + items),
//     varint input count; per input: zigzag op index (-1 = omitted), zigzag
//     output index; varint output count; per output: varint dtype, varint
//     rank, zigzag dims, name;
//   varint graph-output count; per output: zigzag op, zigzag index, name;
// and finally an 8-byte FNV-1a checksum of everything before it, so flipped
// bits are caught before parsing. Decoding rebuilds the graph through the
// same checked constructors as loading (shape inference re-run and compared
// with the stored types), so bytes that parse but describe an invalid graph
// are refused too. Every failure raises SerializationError; none crashes.
#include <cstring>

#include "engine/errors.h"
#include "engine/graph.h"
#include "engine/hash.h"

namespace xflow {
namespace {

constexpr char kMagic[] = "XFLOWGRAPH";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr uint8_t kFormatVersion = 1;
constexpr size_t kChecksumSize = 8;

class Writer {
 public:
  void Byte(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void Unsigned(uint64_t value) {
    while (value >= 0x80) {
      Byte(static_cast<uint8_t>(value | 0x80));
      value >>= 7;
    }
    Byte(static_cast<uint8_t>(value));
  }
  void Signed(int64_t value) {
    Unsigned((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void Fixed64(uint64_t value) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(value >> (8 * i)));
  }
  void Float(double value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    Fixed64(bits);
  }
  void String(const std::string& text) {
    Unsigned(text.size());
    bytes_ += text;
  }
  void Raw(const char* data, size_t size) { bytes_.append(data, size); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class Reader {
 public:
  Reader(const std::string& bytes, size_t end) : bytes_(bytes), end_(end), position_(kMagicSize + 1) {}

  uint8_t Byte(const char* what) {
    if (position_ >= end_) Fail(what, "the data ends");
    return static_cast<uint8_t>(bytes_[position_++]);
  }
  uint64_t Unsigned(const char* what) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint8_t byte = Byte(what);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    Fail(what, "a varint is longer than 10 bytes");
  }
  int64_t Signed(const char* what) {
    const uint64_t value = Unsigned(what);
    return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
  }
  // A count of items each at least min_item_bytes long: checked against the
  // bytes left so corrupt counts cannot trigger huge allocations.
  size_t Count(const char* what, size_t min_item_bytes = 1) {
    const uint64_t count = Unsigned(what);
    if (count > (end_ - position_) / min_item_bytes) {
      Fail(what, "count " + std::to_string(count) + " exceeds the " + std::to_string(end_ - position_) + " bytes left");
    }
    return static_cast<size_t>(count);
  }
  int32_t Index(const char* what) {
    const int64_t value = Signed(what);
    if (value < -1 || value > INT32_MAX) Fail(what, "index " + std::to_string(value) + " is out of range");
    return static_cast<int32_t>(value);
  }
  double Float(const char* what) {
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(Byte(what)) << (8 * i);
    double value = 0;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }
  std::string String(const char* what) {
    const size_t size = Count(what);
    std::string text = bytes_.substr(position_, size);
    position_ += size;
    return text;
  }
  bool AtEnd() const { return position_ == end_; }
  [[noreturn]] void Fail(const char* what, const std::string& problem) const {
    throw SerializationError("corrupt graph bytes at offset " + std::to_string(position_) + " while reading " + what +
                             ": " + problem);
  }

 private:
  const std::string& bytes_;
  size_t end_;
  size_t position_;
};

void WriteParam(Writer& writer, const ParamValue& value) {
  writer.Byte(static_cast<uint8_t>(KindOf(value)));
  switch (KindOf(value)) {
    case ParamKind::kInt:
      writer.Signed(std::get<int64_t>(value));
      break;
    case ParamKind::kFloat:
      writer.Float(std::get<double>(value));
      break;
    case ParamKind::kIntList:
      writer.Unsigned(std::get<IntList>(value).size());
      for (int64_t item : std::get<IntList>(value)) writer.Signed(item);
      break;
    case ParamKind::kFloatList:
      writer.Unsigned(std::get<FloatList>(value).size());
      for (double item : std::get<FloatList>(value)) writer.Float(item);
      break;
    case ParamKind::kString:
      writer.String(std::get<std::string>(value));
      break;
  }
}

ParamValue ReadParam(Reader& reader) {
  const uint8_t kind = reader.Byte("parameter kind");
  switch (static_cast<ParamKind>(kind)) {
    case ParamKind::kInt:
      return reader.Signed("int parameter");
    case ParamKind::kFloat:
      return reader.Float("float parameter");
    case ParamKind::kIntList: {
      IntList list(reader.Count("int list length"));
      for (int64_t& item : list) item = reader.Signed("int list item");
      return list;
    }
    case ParamKind::kFloatList: {
      FloatList list(reader.Count("float list length", 8));
      for (double& item : list) item = reader.Float("float list item");
      return list;
    }
    case ParamKind::kString:
      return reader.String("string parameter");
  }
  reader.Fail("parameter kind", "unknown kind " + std::to_string(kind) + " (expected 0..4)");
}

}  // namespace

std::string Graph::ToBytes() const {
  Writer writer;
  writer.Raw(kMagic, kMagicSize);
  writer.Byte(kFormatVersion);
  writer.Unsigned(ops_.size());
  for (const auto& shared : ops_) {
    const Op& op = *shared;
    writer.String(op.type);
    writer.String(op.name);
    writer.Unsigned(op.params.size());
    for (const auto& [key, value] : op.params) {
      writer.String(key);
      WriteParam(writer, value);
    }
    writer.Unsigned(op.inputs.size());
    for (const Edge& edge : op.inputs) {
      writer.Signed(edge.op);
      writer.Signed(edge.output);
    }
    writer.Unsigned(op.outputs.size());
    for (size_t i = 0; i < op.outputs.size(); ++i) {
      writer.Unsigned(static_cast<uint64_t>(op.outputs[i].dtype));
      writer.Unsigned(op.outputs[i].shape.size());
      for (int64_t dim : op.outputs[i].shape) writer.Signed(dim);
      writer.String(op.output_names[i]);
    }
  }
  writer.Unsigned(outputs_.size());
  for (const GraphOutput& output : outputs_) {
    writer.Signed(output.edge.op);
    writer.Signed(output.edge.output);
    writer.String(output.name);
  }
  std::string& bytes = writer.bytes();
  writer.Fixed64(HashBytes(bytes.data(), bytes.size()));
  return std::move(bytes);
}

Graph Graph::FromBytes(const std::string& bytes) {
  if (bytes.size() < kMagicSize + 1 + kChecksumSize || bytes.compare(0, kMagicSize, kMagic) != 0) {
    throw SerializationError("not a serialized graph: expected bytes starting with '" + std::string(kMagic) +
                             "' and at least " + std::to_string(kMagicSize + 1 + kChecksumSize) + " bytes long, got " +
                             std::to_string(bytes.size()) + " bytes");
  }
  if (static_cast<uint8_t>(bytes[kMagicSize]) != kFormatVersion) {
    throw SerializationError("unsupported graph format version " +
                             std::to_string(static_cast<uint8_t>(bytes[kMagicSize])) + "; this engine reads version " +
                             std::to_string(kFormatVersion));
  }
  const size_t body_end = bytes.size() - kChecksumSize;
  uint64_t stored = 0;
  for (size_t i = 0; i < kChecksumSize; ++i) {
    stored |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[body_end + i])) << (8 * i);
  }
  if (stored != HashBytes(bytes.data(), body_end)) {
    throw SerializationError("graph bytes are corrupt or truncated: the checksum over " + std::to_string(body_end) +
                             " bytes does not match the stored one");
  }
  Reader reader(bytes, body_end);
  Graph graph;
  try {
    const size_t op_count = reader.Count("op count");
    graph.ops_.reserve(op_count);
    for (size_t i = 0; i < op_count; ++i) {
      Op op;
      op.type = reader.String("op type");
      op.name = reader.String("op name");
      const size_t param_count = reader.Count("parameter count");
      for (size_t p = 0; p < param_count; ++p) {
        std::string key = reader.String("parameter name");
        op.params[std::move(key)] = ReadParam(reader);
      }
      op.inputs.resize(reader.Count("input count", 2));
      for (Edge& edge : op.inputs) {
        edge.op = reader.Index("input op");
        edge.output = reader.Index("input output index");
      }
      op.outputs.resize(reader.Count("output count", 3));
      op.output_names.resize(op.outputs.size());
      for (size_t o = 0; o < op.outputs.size(); ++o) {
        const uint64_t code = reader.Unsigned("output dtype");
        if (code > 16) reader.Fail("output dtype", "unknown dtype code " + std::to_string(code));
        op.outputs[o].dtype = static_cast<DataType>(code);
        op.outputs[o].shape.resize(reader.Count("output rank"));
        for (int64_t& dim : op.outputs[o].shape) dim = reader.Signed("output dimension");
        op.output_names[o] = reader.String("output name");
      }
      graph.AddCheckedOp(std::move(op));
    }
    std::vector<GraphOutput> outputs(reader.Count("graph output count", 3));
    for (GraphOutput& output : outputs) {
      output.edge.op = reader.Index("graph output op");
      output.edge.output = reader.Index("graph output index");
      output.name = reader.String("graph output name");
    }
    graph.SetOutputs(std::move(outputs));
  } catch (const GraphError& error) {
    throw SerializationError(std::string("graph bytes decode to an invalid graph: ") + error.what());
  }
  if (!reader.AtEnd()) reader.Fail("end of graph", "unexpected trailing bytes");
  return graph;
}

}  // namespace xflow
