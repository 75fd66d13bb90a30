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

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_HASH_H_
