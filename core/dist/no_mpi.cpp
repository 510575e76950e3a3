// Built without MPI (SRA_MPI off or MPI not found): built() is false, make_communicator throws.
#include "core/check.h"
#include "core/dist/mpi.h"

namespace sra::dist::mpi {

bool built() {
  return false;
}

std::unique_ptr<Communicator> make_communicator(const DistEnv&) {
  throw Error(
      "[dist] distributed.backend mpi: this sra was built without MPI (install libopenmpi-dev and rebuild; "
      "see docs/distributed.md)");
}

}  // namespace sra::dist::mpi
