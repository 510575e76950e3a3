// NCCL behind core/dist/nccl.h: communicator setup from rank 0's unique id, all-reduce, broadcast and
// ZeRO-1's in-place reduce-scatter and all-gather on the device's current stream (core/cuda_runtime.h), and
// the watchdog thread that turns a hang into an error (see core/dist/nccl.h). NCCL reads NCCL_NVLS_ENABLE
// (NVLink multicast) from the environment at init; our scripts set it to 0.
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "core/cuda_check.h"
#include "core/cuda_runtime.h"
#include "core/dist/nccl.h"

#define SRA_NCCL_CHECK(call, what)                                                            \
  do {                                                                                        \
    ncclResult_t sra_r_ = (call);                                                             \
    if (sra_r_ != ncclSuccess)                                                                \
      throw ::sra::Error(::sra::detail::concat("[dist] NCCL ", what, ": ", #call,             \
                                               " failed: ", ncclGetErrorString(sra_r_), " (", \
                                               ncclGetLastError(nullptr), ")"));              \
  } while (0)

namespace sra::dist::nccl {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

struct Comm {
  ncclComm_t comm = nullptr;
  int rank = 0, device = 0;
  double timeout_s = 300;
  struct Pending {
    cudaEvent_t done;
    double t0;
    std::string what;
  };
  std::mutex mu;
  std::deque<Pending> pending;  // oldest first: a stream's events complete in order
  std::deque<cudaEvent_t> free_events;
  std::atomic<bool> stop{false};
  std::thread watchdog;
  cudaStream_t comm_stream = nullptr;  // the overlapped all-reduces (all_reduce_sum_async)
  cudaEvent_t queued = nullptr, comm_done = nullptr;

  // The watchdog's loop: completed events go back to the pool; a late one or an asynchronous NCCL
  // error aborts the communicator and ends the process (the launcher stops the other ranks).
  void watch() {
    cudaSetDevice(device);
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string late;
      double waited = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        while (!pending.empty() && cudaEventQuery(pending.front().done) == cudaSuccess) {
          free_events.push_back(pending.front().done);
          pending.pop_front();
        }
        if (!pending.empty() && now_s() - pending.front().t0 > timeout_s) {
          late = pending.front().what;
          waited = now_s() - pending.front().t0;
        }
      }
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm, &async);
      if (late.empty() && async == ncclSuccess) continue;
      if (!late.empty()) {
        std::fprintf(stderr,
                     "[dist] rank %d: NCCL %s did not complete within %.0f s (distributed.timeout_s %.0f): a "
                     "peer rank died or stopped answering; aborting the communicator\n",
                     rank, late.c_str(), waited, timeout_s);
      } else {
        std::fprintf(stderr, "[dist] rank %d: NCCL reported an asynchronous error: %s; aborting\n", rank,
                     ncclGetErrorString(async));
      }
      std::fflush(stderr);
      ncclCommAbort(comm);
      std::_Exit(1);
    }
  }

  // Called after queuing an operation: an event behind it for the watchdog (on `stream`, default the
  // device's current stream).
  void track(const std::string& what, cudaStream_t stream = nullptr) {
    std::lock_guard<std::mutex> lock(mu);
    cudaEvent_t e;
    if (free_events.empty()) {
      SRA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    } else {
      e = free_events.front();
      free_events.pop_front();
    }
    if (!stream) stream = static_cast<cudaStream_t>(sra::cuda::current_stream(device));
    SRA_CUDA_CHECK(cudaEventRecord(e, stream));
    pending.push_back({e, now_s(), what});
  }
};

bool built() {
  return true;
}

std::string unique_id() {
  ncclUniqueId id;
  SRA_NCCL_CHECK(ncclGetUniqueId(&id), "unique id");
  return std::string(id.internal, sizeof(id.internal));
}

Comm* init(const std::string& id_bytes, int world_size, int rank, int device, double timeout_s) {
  SRA_CHECK(id_bytes.size() == sizeof(ncclUniqueId::internal), "[dist] NCCL unique id of ", id_bytes.size(),
            " bytes from the store (expected ", sizeof(ncclUniqueId::internal), ")");
  ncclUniqueId id;
  std::memcpy(id.internal, id_bytes.data(), sizeof(id.internal));
  SRA_CUDA_CHECK(cudaSetDevice(device));
  auto* c = new Comm;
  c->rank = rank;
  c->device = device;
  c->timeout_s = timeout_s;
  ncclResult_t r = ncclCommInitRank(&c->comm, world_size, id, rank);
  if (r != ncclSuccess) {
    delete c;
    throw Error(detail::concat("[dist] rank ", rank, ": ncclCommInitRank (world size ", world_size,
                               ", cuda:", device, ") failed: ", ncclGetErrorString(r)));
  }
  SRA_CUDA_CHECK(cudaStreamCreateWithFlags(&c->comm_stream, cudaStreamNonBlocking));
  SRA_CUDA_CHECK(cudaEventCreateWithFlags(&c->queued, cudaEventDisableTiming));
  SRA_CUDA_CHECK(cudaEventCreateWithFlags(&c->comm_done, cudaEventDisableTiming));
  c->watchdog = std::thread([c] { c->watch(); });
  return c;
}

void destroy(Comm* c) {
  if (!c) return;
  c->stop = true;
  c->watchdog.join();
  cudaSetDevice(c->device);
  cudaStreamSynchronize(static_cast<cudaStream_t>(sra::cuda::current_stream(c->device)));
  cudaStreamSynchronize(c->comm_stream);
  ncclCommDestroy(c->comm);
  cudaEventDestroy(c->queued);
  cudaEventDestroy(c->comm_done);
  cudaStreamDestroy(c->comm_stream);
  for (auto& p : c->pending) cudaEventDestroy(p.done);
  for (auto& e : c->free_events) cudaEventDestroy(e);
  delete c;
}

void all_reduce_sum(Comm* c, void* data, size_t count, int dtype, const std::string& what) {
  const ncclDataType_t t = dtype == 0 ? ncclFloat32 : dtype == 1 ? ncclBfloat16 : ncclFloat64;
  auto stream = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  SRA_NCCL_CHECK(ncclAllReduce(data, data, count, t, ncclSum, c->comm, stream), "all_reduce (" + what + ")");
  c->track("all_reduce (" + what + ")");
}

void broadcast(Comm* c, void* data, size_t bytes, const std::string& what) {
  auto stream = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  SRA_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, 0, c->comm, stream), "broadcast (" + what + ")");
  c->track("broadcast (" + what + ")");
}

// The pending watchdog events complete in order only per stream; the comm stream's are tracked in the
// same deque, which is fine: the watchdog only looks at the oldest one, and every event completes.
void all_reduce_sum_async(Comm* c, void* data, size_t count, int dtype, const std::string& what) {
  const ncclDataType_t t = dtype == 0 ? ncclFloat32 : dtype == 1 ? ncclBfloat16 : ncclFloat64;
  auto compute = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  SRA_CUDA_CHECK(cudaEventRecord(c->queued, compute));  // the bucket's packed gradients
  SRA_CUDA_CHECK(cudaStreamWaitEvent(c->comm_stream, c->queued, 0));
  SRA_NCCL_CHECK(ncclAllReduce(data, data, count, t, ncclSum, c->comm, c->comm_stream),
                 "all_reduce (" + what + ")");
  c->track("all_reduce (" + what + ")", c->comm_stream);
}

void all_reduce_group_async(Comm* c, const std::vector<void*>& data, const std::vector<size_t>& counts,
                            int dtype, bool mean, const std::string& what) {
  SRA_ASSERT(data.size() == counts.size());
  const ncclDataType_t t = dtype == 0 ? ncclFloat32 : dtype == 1 ? ncclBfloat16 : ncclFloat64;
  auto compute = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  SRA_CUDA_CHECK(cudaEventRecord(c->queued, compute));  // the gradients, final on the compute stream
  SRA_CUDA_CHECK(cudaStreamWaitEvent(c->comm_stream, c->queued, 0));
  SRA_NCCL_CHECK(ncclGroupStart(), "all_reduce group (" + what + ")");
  for (size_t i = 0; i < data.size(); ++i)
    SRA_NCCL_CHECK(
        ncclAllReduce(data[i], data[i], counts[i], t, mean ? ncclAvg : ncclSum, c->comm, c->comm_stream),
        "all_reduce (" + what + ")");
  SRA_NCCL_CHECK(ncclGroupEnd(), "all_reduce group (" + what + ")");
  c->track("all_reduce (" + what + ")", c->comm_stream);
}

void wait_async(Comm* c) {
  auto compute = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  SRA_CUDA_CHECK(cudaEventRecord(c->comm_done, c->comm_stream));
  SRA_CUDA_CHECK(cudaStreamWaitEvent(compute, c->comm_done, 0));
}

// In place: NCCL's reduce-scatter writes chunk `rank` of data, which is its recvbuff = sendbuff + rank·count.
void reduce_scatter_sum(Comm* c, void* data, size_t chunk_count, int dtype, const std::string& what) {
  const ncclDataType_t t = dtype == 0 ? ncclFloat32 : dtype == 1 ? ncclBfloat16 : ncclFloat64;
  const size_t elem = dtype == 0 ? 4 : dtype == 1 ? 2 : 8;
  auto stream = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  void* mine = static_cast<char*>(data) + size_t(c->rank) * chunk_count * elem;
  SRA_NCCL_CHECK(ncclReduceScatter(data, mine, chunk_count, t, ncclSum, c->comm, stream),
                 "reduce_scatter (" + what + ")");
  c->track("reduce_scatter (" + what + ")");
}

// In place: NCCL's all-gather reads sendbuff = recvbuff + rank·count.
void all_gather_chunks(Comm* c, void* data, size_t chunk_bytes, const std::string& what) {
  auto stream = static_cast<cudaStream_t>(sra::cuda::current_stream(c->device));
  const void* mine = static_cast<const char*>(data) + size_t(c->rank) * chunk_bytes;
  SRA_NCCL_CHECK(ncclAllGather(mine, data, chunk_bytes, ncclUint8, c->comm, stream),
                 "all_gather_chunks (" + what + ")");
  c->track("all_gather_chunks (" + what + ")");
}

}  // namespace sra::dist::nccl
