// The launcher's variables → DistEnv (see core/dist/env.h for the table).
#include "core/dist/env.h"

#include <cstdlib>
#include <string>

#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra::dist {

namespace {

int int_var(const std::function<const char*(const char*)>& get, const char* name, int lo, int hi) {
  const char* v = get(name);
  SRA_CHECK(v != nullptr, "[dist] ", name, " is not set (the other launcher variables are)");
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  SRA_CHECK(end != v && *end == '\0', "[dist] ", name, "='", v, "' is not an integer");
  SRA_CHECK(x >= lo && x <= hi, "[dist] ", name, "=", x, " is outside [", lo, ", ", hi, "]");
  return int(x);
}

}  // namespace

DistEnv dist_env_from(const std::function<const char*(const char*)>& get) {
  struct Family {
    const char *launcher, *rank, *size, *local;
  };
  const Family families[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
      {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
  };
  DistEnv e;
  for (const Family& f : families) {
    if (get(f.size) == nullptr) continue;
    e.launcher = f.launcher;
    e.world_size = int_var(get, f.size, 1, 1 << 20);
    e.rank = int_var(get, f.rank, 0, e.world_size - 1);
    e.local_rank = get(f.local) ? int_var(get, f.local, 0, 1 << 20) : 0;
    break;
  }
  if (const char* a = get("MASTER_ADDR"); a && *a) {
    e.master_addr = a;
  } else if (const char* s = get("SLURM_LAUNCH_NODE_IPADDR"); e.launcher == "slurm" && s && *s) {
    e.master_addr = s;
  }
  if (get("MASTER_PORT")) e.master_port = int_var(get, "MASTER_PORT", 1, 65535);
  return e;
}

Device rank_device(const std::string& configured, const DistEnv& env) {
  Device d = Device::parse(configured);
  if (!env.distributed() || !d.is_cuda() || configured != "cuda") return d;
  const int n = cuda::device_count();
  SRA_CHECK(env.local_rank < n, "[dist] rank ", env.rank, ": LOCAL_RANK ", env.local_rank,
            " but this machine has ", n, " GPUs (one rank per GPU: --nproc-per-node at most ", n, ")");
  return Device::cuda(env.local_rank);
}

DistEnv dist_env() {
  return dist_env_from([](const char* name) { return std::getenv(name); });
}

}  // namespace sra::dist
