// The world of a data-parallel job, from the launcher's environment variables.
//
//   launcher            rank               world size           local rank          rendezvous
//   torchrun / ours     RANK               WORLD_SIZE           LOCAL_RANK          MASTER_ADDR:MASTER_PORT
//   mpirun (Open MPI)   OMPI_COMM_WORLD_RANK  OMPI_COMM_WORLD_SIZE  OMPI_COMM_WORLD_LOCAL_RANK
//   MASTER_ADDR:PORT srun (SLURM)        SLURM_PROCID       SLURM_NTASKS         SLURM_LOCALID MASTER_ADDR,
//   else
//                                                                                  SLURM_LAUNCH_NODE_IPADDR
// The first family found wins in that order (torchrun's variables are also what `--nproc-per-node` sets).
// MASTER_ADDR defaults to 127.0.0.1 and MASTER_PORT to 29500 (torchrun's default). None set: one rank.
// Bad values ("[dist] RANK='x' is not an integer", rank >= world size, port outside 1..65535) throw.
#pragma once
#include <functional>
#include <string>

#include "core/device.h"

namespace sra::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "none";  // "torchrun" (also our --nproc-per-node), "mpirun", "slurm" or "none"
  bool distributed() const { return world_size > 1 || launcher != "none"; }
};

// From a getenv-like lookup (nullptr = unset); dist_env() reads the process environment.
DistEnv dist_env_from(const std::function<const char*(const char*)>& get);
DistEnv dist_env();

// A rank's device: `configured` as the config or flag gives it ("cuda", "cuda:N", "cpu"); "cuda" without
// an index in a distributed job means cuda:LOCAL_RANK (one rank per GPU; "[dist] rank R: LOCAL_RANK L
// but this machine has N GPUs" when there are too few). Anything else is returned as parsed.
Device rank_device(const std::string& configured, const DistEnv& env);

}  // namespace sra::dist
