// The NCCL entry points the nccl communicator (core/dist/collectives.cpp) needs, with no CUDA or NCCL header:
// implemented in core/dist/nccl_cuda.cu when SRA is built with CUDA and NCCL (CMake option SRA_NCCL), else in
// core/dist/no_nccl.cpp, where built() is false and the rest throw "[dist] ... built without NCCL".
//
// The watchdog: every queued operation records a CUDA event after it; a thread polls the events and
// ncclCommGetAsyncError every 50 ms. An operation not complete within timeout_s, or an asynchronous
// NCCL error, makes it print "[dist] rank R: NCCL <what> did not complete within T s ..." to stderr,
// call ncclCommAbort (which frees the kernels waiting on a dead peer) and end the process with exit
// status 1 — the launcher then stops the other ranks. Never a hang.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace sra::dist::nccl {

bool built();
std::string unique_id();  // rank 0: a fresh ncclUniqueId's bytes (sent to the others through the store)

struct Comm;  // ncclComm_t + its watchdog
// Collective: every rank calls it with rank 0's id. NCCL_NVLS_ENABLE is left as the environment sets it
// (our scripts set 0); NCCL reads it here.
Comm* init(const std::string& id, int world_size, int rank, int device, double timeout_s);
void destroy(Comm* c);
// dtype: 0 f32, 1 bf16, 2 f64. On the device's current stream (core/cuda_runtime.h); returns at once.
void all_reduce_sum(Comm* c, void* data, size_t count, int dtype, const std::string& what);
void broadcast(Comm* c, void* data, size_t bytes, const std::string& what);  // from rank 0
// all_reduce_sum on the communicator's own stream, after the work queued so far on the current stream
// (an event between them); wait_async makes the current stream wait for everything queued there.
void all_reduce_sum_async(Comm* c, void* data, size_t count, int dtype, const std::string& what);
// Several in-place all-reduces (sum, or average with mean) as one ncclGroupStart/End on that same stream.
void all_reduce_group_async(Comm* c, const std::vector<void*>& data, const std::vector<size_t>& counts,
                            int dtype, bool mean, const std::string& what);
void wait_async(Comm* c);
// In place over world_size chunks of chunk_count elements (Communicator::reduce_scatter_sum): chunk rank
// of data becomes the ranks' sum of that chunk.
void reduce_scatter_sum(Comm* c, void* data, size_t chunk_count, int dtype, const std::string& what);
// In place over world_size chunks of chunk_bytes (Communicator::all_gather_chunks): each rank's own chunk
// goes to every rank.
void all_gather_chunks(Comm* c, void* data, size_t chunk_bytes, const std::string& what);

}  // namespace sra::dist::nccl
