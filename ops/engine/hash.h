// 64-bit hashing primitives shared by the graph hash, the serializer's
// checksum and cost keys: a SplitMix64 finaliser to mix words, an ordered
// combiner and FNV-1a for byte strings.
#ifndef RLGRAPH_XFLOW_ENGINE_HASH_H_
#define RLGRAPH_XFLOW_ENGINE_HASH_H_

#include <cstdint>
#include <string>

namespace xflow {

uint64_t MixHash(uint64_t value);
// Order-sensitive: CombineHash(CombineHash(s, a), b) != CombineHash(CombineHash(s, b), a).
uint64_t CombineHash(uint64_t seed, uint64_t value);
uint64_t HashBytes(const char* data, size_t size);
inline uint64_t HashString(const std::string& text) { return HashBytes(text.data(), text.size()); }

// The pieces of Graph::OpHashes and Graph::Hash, exposed so a search can
// predict a rewritten graph's hash from its parent's op hashes without
// building it (priced_graph.h). Both paths use these same functions.
struct Op;
struct TensorType;
inline constexpr uint64_t kMissingInputHash = 0x6d697373696e6721ULL;
uint64_t HashTensorType(const TensorType& type);
// Everything of an op's hash that does not depend on its inputs: type and
// parameters, and for leaves (which have no inputs) the whole hash.
uint64_t OpHeadHash(const Op& op);
// What an input edge contributes: the producer's op hash and the output read.
inline uint64_t InputHashTerm(uint64_t producer_hash, int32_t output) {
  return CombineHash(producer_hash, static_cast<uint64_t>(output));
}
// An op's hash from its head and one term per input (kMissingInputHash for
// an omitted input); leaves return the head.
uint64_t FinishOpHash(const Op& op, uint64_t head, const uint64_t* input_terms);
// A graph's hash is a wrapping sum of these terms (one per op, dead ops too),
// then its op count and its outputs' InputHashTerms in output order.
inline uint64_t MultisetTerm(uint64_t op_hash) { return MixHash(op_hash ^ 0x5bd1e9955bd1e995ULL); }
uint64_t FinishGraphHash(uint64_t multiset, size_t op_count, const uint64_t* output_terms, size_t output_count);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_HASH_H_
