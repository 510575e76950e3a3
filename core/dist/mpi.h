// The mpi backend (distributed.backend mpi): a Communicator over MPI for ranks started by mpirun
// (Open MPI: OMPI_COMM_WORLD_*). Implemented in core/dist/mpi.cpp when SRA is built with MPI (CMake
// option SRA_MPI, FindMPI), else in core/dist/no_mpi.cpp, where built() is false and make_communicator
// throws "[dist] ... built without MPI (install libopenmpi-dev and rebuild)".
//
// The same bits as tcp: MPI's own reductions are not used (their order depends on the library and the
// world size). all_reduce_sum / reduce_scatter_sum gather every rank's bytes at rank 0 (MPI_Gather),
// which sums them in rank order with tcp's RankSum (core/dist/rank_sum.h) and sends the sum back
// (MPI_Bcast) or chunk r of it to rank r (MPI_Scatter); all_gather_chunks is an MPI_Allgather of the
// chunks; all_gather of strings an MPI_Allgather of the sizes and an MPI_Allgatherv; barrier MPI_Barrier.
// Large buffers go in pieces (an MPI count is an int). all_reduce_sum_async runs synchronously (wait_async
// does nothing but is still called). Device tensors go through the host. Every collective first
// all-gathers (operation, bytes), so ranks that call different collectives fail at once naming both.
// MPI has no timeouts: distributed.timeout_s does not apply; a dead rank makes mpirun end the job.
//
// MPI_Init_thread runs when the first communicator is made, MPI_Finalize at process exit (a static guard).
// The MPI rank and size must equal the launcher variables' (core/dist/env.h).
#pragma once
#include <memory>

#include "core/dist/collectives.h"

namespace sra::dist::mpi {

bool built();
std::unique_ptr<Communicator> make_communicator(const DistEnv& env);

}  // namespace sra::dist::mpi
