// Hash primitives and the canonical graph hash (Graph::Hash, Graph::OpHashes).
//
// An op's hash depends only on content: its type, its parameters (in name
// order), its output arity and, for each input, the hash of the producing op
// and the output index read. Leaves (Input/Weight/Constant) hash their name,
// dtype and shape (and int_values); generated constants (graph.h) hash
// their values but not their name. Opaque ops also hash their stored output
// types, which nothing else determines. Op names and insertion order never
// enter, so two graphs built in different orders hash equal.
// The graph hash combines the multiset of all op hashes (dead ops count
// too) -- as a wrapping sum of the mixed op hashes, so a rewrite could update
// it without re-sorting -- with the graph outputs' hashes in output order.
#include "engine/hash.h"

#include <cstring>
#include <vector>

#include "engine/graph.h"

namespace xflow {

uint64_t MixHash(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

uint64_t CombineHash(uint64_t seed, uint64_t value) { return MixHash(seed * 0x100000001b3ULL ^ MixHash(value)); }

uint64_t HashBytes(const char* data, size_t size) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 0x100000001b3ULL;
  }
  return MixHash(hash ^ size);
}

namespace {

uint64_t HashParamValue(const ParamValue& value) {
  uint64_t hash = static_cast<uint64_t>(value.index());
  switch (KindOf(value)) {
    case ParamKind::kInt:
      return CombineHash(hash, static_cast<uint64_t>(std::get<int64_t>(value)));
    case ParamKind::kFloat: {
      uint64_t bits = 0;
      const double number = std::get<double>(value);
      std::memcpy(&bits, &number, sizeof(bits));
      return CombineHash(hash, bits);
    }
    case ParamKind::kIntList:
      for (int64_t item : std::get<IntList>(value)) hash = CombineHash(hash, static_cast<uint64_t>(item));
      return CombineHash(hash, std::get<IntList>(value).size());
    case ParamKind::kFloatList:
      for (double item : std::get<FloatList>(value)) {
        uint64_t bits = 0;
        std::memcpy(&bits, &item, sizeof(bits));
        hash = CombineHash(hash, bits);
      }
      return CombineHash(hash, std::get<FloatList>(value).size());
    case ParamKind::kString:
      return CombineHash(hash, HashString(std::get<std::string>(value)));
  }
  return hash;
}

}  // namespace

uint64_t HashTensorType(const TensorType& type) {
  uint64_t hash = static_cast<uint64_t>(type.dtype);
  for (int64_t dim : type.shape) hash = CombineHash(hash, static_cast<uint64_t>(dim));
  return CombineHash(hash, type.shape.size());
}

uint64_t OpHeadHash(const Op& op) {
  uint64_t hash = HashString(op.type);
  for (const auto& [key, value] : op.params) hash = CombineHash(CombineHash(hash, HashString(key)), HashParamValue(value));
  if (op.IsGenerated()) return CombineHash(hash, HashTensorType(op.outputs[0]));
  if (op.IsLeaf()) return CombineHash(CombineHash(hash, HashString(op.name)), HashTensorType(op.outputs[0]));
  return hash;
}

uint64_t FinishOpHash(const Op& op, uint64_t head, const uint64_t* input_terms) {
  if (op.IsLeaf()) return head;
  uint64_t hash = head;
  for (size_t i = 0; i < op.inputs.size(); ++i) hash = CombineHash(hash, input_terms[i]);
  hash = CombineHash(hash, op.outputs.size());
  if (op.type == kOpaqueOp) {
    for (const TensorType& output : op.outputs) hash = CombineHash(hash, HashTensorType(output));
  }
  return hash;
}

uint64_t FinishGraphHash(uint64_t multiset, size_t op_count, const uint64_t* output_terms, size_t output_count) {
  uint64_t hash = CombineHash(HashString("xflow-graph"), multiset);
  hash = CombineHash(hash, op_count);
  for (size_t i = 0; i < output_count; ++i) hash = CombineHash(hash, output_terms[i]);
  return CombineHash(hash, output_count);
}

std::vector<uint64_t> Graph::OpHashes() const {
  std::vector<uint64_t> hashes(ops_.size());
  std::vector<uint64_t> terms;
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& current = *ops_[i];
    terms.clear();
    for (const Edge& edge : current.inputs) {
      terms.push_back(edge.IsMissing() ? kMissingInputHash : InputHashTerm(hashes[static_cast<size_t>(edge.op)], edge.output));
    }
    hashes[i] = FinishOpHash(current, OpHeadHash(current), terms.data());
  }
  return hashes;
}

uint64_t Graph::Hash() const {
  const std::vector<uint64_t> op_hashes = OpHashes();
  uint64_t multiset = 0;
  for (uint64_t op_hash : op_hashes) multiset += MultisetTerm(op_hash);
  std::vector<uint64_t> output_terms;
  for (const GraphOutput& output : outputs_) {
    output_terms.push_back(InputHashTerm(op_hashes[static_cast<size_t>(output.edge.op)], output.edge.output));
  }
  return FinishGraphHash(multiset, op_hashes.size(), output_terms.data(), output_terms.size());
}

}  // namespace xflow
