// The device profile table (see device_profiles.h).
//
// Peak fp32 (non-tensor-core) throughput and memory bandwidth are the
// vendors' public spec-sheet numbers:
//   rtx2070  NVIDIA GeForce RTX 2070 (Founders Edition): 7.46 TFLOPS fp32 at
//            boost clock, 448 GB/s GDDR6.
//   v100     NVIDIA Tesla V100 SXM2: 15.7 TFLOPS fp32, 900 GB/s HBM2.
//   h100     NVIDIA H100 SXM5: 67 TFLOPS fp32, 3.35 TB/s HBM3.
//   cpu      Intel Core i9-9900K: 8 cores x 3.6 GHz base x 32 fp32 FLOP per
//            cycle (two AVX2 FMA units) = 0.92 TFLOPS; dual-channel
//            DDR4-2666 = 41.6 GB/s.
// Launch overheads are typical measured values, not spec-sheet numbers:
// about 5 microseconds per CUDA kernel launch, about 1 microsecond per
// operator dispatch in a CPU runtime.
#include "engine/device_profiles.h"

#include "engine/errors.h"

namespace xflow {
namespace {

const std::vector<DeviceProfile>& Profiles() {
  static const std::vector<DeviceProfile> profiles = {
      {"cpu", "Intel Core i9-9900K (8 cores, AVX2, dual-channel DDR4-2666)", 0.92e12, 41.6e9, 0.001},
      {"h100", "NVIDIA H100 SXM5 (fp32, HBM3)", 67.0e12, 3.35e12, 0.005},
      {"rtx2070", "NVIDIA GeForce RTX 2070 (fp32, GDDR6)", 7.46e12, 448.0e9, 0.005},
      {"v100", "NVIDIA Tesla V100 SXM2 (fp32, HBM2)", 15.7e12, 900.0e9, 0.005},
  };
  return profiles;
}

}  // namespace

const DeviceProfile& GetDeviceProfile(const std::string& name) {
  for (const DeviceProfile& profile : Profiles()) {
    if (profile.name == name) return profile;
  }
  std::string known;
  for (const std::string& profile_name : DeviceProfileNames()) known += (known.empty() ? "" : ", ") + profile_name;
  throw CostError("unknown device profile '" + name + "'; expected one of: " + known);
}

std::vector<std::string> DeviceProfileNames() {
  std::vector<std::string> names;
  for (const DeviceProfile& profile : Profiles()) names.push_back(profile.name);
  return names;
}

}  // namespace xflow
