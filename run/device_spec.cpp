// The device a command runs on (see device_spec.h).
#include "run/device_spec.h"

#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra {

Device parse_device_spec(const std::string& spec) {
  Device d;
  try {
    d = Device::parse(spec);
  } catch (const Error&) {
    throw Error("[config] device '" + spec + "': expected cpu, cuda or cuda:N");
  }
  if (d.is_cpu()) return d;
  SRA_CHECK(cuda::built_with_cuda(), "[config] device '", spec,
            "': this sra was built without CUDA (build with SRA_CUDA=ON), use device cpu");
  const int n = cuda::device_count();
  SRA_CHECK(n > 0, "[config] device '", spec, "': no CUDA GPU is visible, use device cpu");
  SRA_CHECK(d.index < n, "[config] device '", spec, "': ", n, " CUDA GPU", n == 1 ? " is" : "s are",
            " visible (cuda:0", n == 1 ? "" : " .. cuda:" + std::to_string(n - 1), ")");
  return d;
}

}  // namespace sra
