// Named device profiles for the analytic (roofline) cost provider.
//
//   DeviceProfile       peak fp32 throughput, memory bandwidth and the fixed
//                       cost of launching one kernel.
//   GetDeviceProfile    lookup by name ("rtx2070", "v100", "h100", "cpu").
//   DeviceProfileNames  the known names, sorted.
#ifndef RLGRAPH_XFLOW_ENGINE_DEVICE_PROFILES_H_
#define RLGRAPH_XFLOW_ENGINE_DEVICE_PROFILES_H_

#include <string>
#include <vector>

namespace xflow {

struct DeviceProfile {
  std::string name;
  std::string description;
  double peak_flops_per_second;
  double bandwidth_bytes_per_second;
  double launch_overhead_ms;
};

// Throws CostError listing the known names when `name` is unknown.
const DeviceProfile& GetDeviceProfile(const std::string& name);
std::vector<std::string> DeviceProfileNames();

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_DEVICE_PROFILES_H_
