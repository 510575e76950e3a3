// Where a command runs: a run config's `device` (or a CLI --device) as a Device.
//   "cpu"     Device::cpu()
//   "cuda"    Device::cuda(0)
//   "cuda:N"  Device::cuda(N)
// Errors (sra::Error, "[config] device '<spec>': ..."): any other spelling; a CUDA device in a build
// without CUDA; a CUDA device when no GPU is visible, or N beyond the visible GPUs.
#pragma once
#include <string>

#include "core/device.h"

namespace sra {

Device parse_device_spec(const std::string& spec);

}  // namespace sra
