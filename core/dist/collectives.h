// Collectives between the ranks of a data-parallel job.
//
// Communicator: all_reduce_sum (in place; f32, bf16 or f64, contiguous), broadcast from rank 0 (in place),
// all_gather of byte strings (rank order), barrier, and for ZeRO-1 two in-place collectives over a flat
// buffer of world_size equal chunks (numel = world · c; chunk r = elements [r·c, (r+1)·c)):
//   reduce_scatter_sum: afterwards this rank's chunk holds the ranks' sum of that chunk (the same bits as
//                       all_reduce_sum gives there); the other chunks are left unspecified.
//   all_gather_chunks:  chunk r of every rank becomes rank r's chunk (each rank's input is its own chunk).
// Overlap with the backward: all_reduce_sum_async(t) starts all_reduce_sum(t), which completes by
// wait_async(): tcp on a communication thread (one collective at a time, in call order; device tensors
// synchronously), nccl (device tensors) on a communication stream once the work queued so far on the
// device's current stream is done (wait_async makes the current stream wait for it; nothing blocks the
// host). Until wait_async returns the caller leaves t alone and calls no other collective; wait_async
// rethrows the first error of the queued collectives.
//   Every call is collective: each rank calls the same
// operations in the same order; `what` says what the caller is doing ("gradient bucket 2 of step 17")
// and appears in timeout and dead-peer errors.
//
// Backends (distributed.backend):
//   tcp   our own CPU backend over TCP sockets (Gloo is not installed on the GPU image, so we do not use
//         it). A star: ranks 1..N-1 connect to rank 0 (its port goes through the store); an all-reduce
//         sends each rank's bytes to rank 0, which sums them in rank order (r0 + r1 + ... in the dtype's
//         accumulator: f32 for f32 and bf16, f64 for f64) and sends the sum back, so every rank holds the
//         same bits and the result does not depend on timing; reduce_scatter_sum is the same exchange
//         with only chunk r of the sum sent back to rank r, all_gather_chunks sends each rank's chunk to
//         rank 0, which sends the whole buffer back. Device tensors are copied through the host. Every socket
//         operation waits at most distributed.timeout_s: a dead rank ("rank 1 closed the connection during
//         all_reduce (gradient bucket 0 of step 3)") or a silent one ends the call with an error. A header
//         (operation, byte count) precedes each message, so ranks that call different collectives fail at
//         once naming both.
//   nccl  NCCL (core/dist/nccl_cuda.cu) for device tensors on the run's GPU (cuda:LOCAL_RANK), on the
//   device's
//         current stream, so the call returns at once; host tensors, all_gather and barrier go through
//         a tcp communicator beside it. The unique id goes from rank 0 through the store. A watchdog
//         thread aborts the communicator (ncclCommAbort) and ends the process with an error naming the
//         rank and the operation when one has not completed within distributed.timeout_s or NCCL
//         reports an asynchronous error.
//   mpi   MPI (core/dist/mpi.h) for ranks started by mpirun: rank 0 sums in rank order as tcp does (the
//         same bits); no store. Refused under --nproc-per-node / torchrun ("use mpirun -np N").
//   auto  nccl on device cuda when this build has NCCL, else tcp.
//
// check_same_config(comm, text): all-gathers a hash of `text` (the resolved config) and throws
// "[dist] the config differs between ranks: rank 0 has hash H0, rank 1 has H1" when they differ.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dist/env.h"
#include "core/dist/store.h"
#include "core/tensor.h"

namespace sra::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  int rank() const { return rank_; }
  int world_size() const { return world_; }
  virtual std::string backend() const = 0;

  virtual void all_reduce_sum(Tensor& t, const std::string& what) = 0;
  virtual void broadcast(Tensor& t, const std::string& what) = 0;  // from rank 0
  virtual std::vector<std::string> all_gather(const std::string& bytes, const std::string& what) = 0;
  virtual void reduce_scatter_sum(Tensor& flat, const std::string& what) = 0;
  virtual void all_gather_chunks(Tensor& flat, const std::string& what) = 0;
  virtual void all_reduce_sum_async(Tensor& t, const std::string& what) = 0;
  // nccl only (grouped_in_place() true): the all-reduces of several device tensors, each in place where it
  // lies (no packing into one buffer), as one NCCL group on the communication stream; mean: the ranks'
  // average (ncclAvg) instead of the sum. Starts like all_reduce_sum_async and completes by wait_async.
  virtual bool grouped_in_place() const { return false; }
  virtual void all_reduce_group_async(const std::vector<Tensor>& ts, bool mean, const std::string& what);
  virtual void wait_async() = 0;
  virtual void barrier(const std::string& what) = 0;

 protected:
  int rank_ = 0, world_ = 1;
};

// The tcp backend (also the host side of nccl). Needs the store only while it connects.
std::unique_ptr<Communicator> make_tcp_communicator(Store& store, double timeout_s);

// backend: "auto" | "tcp" | "nccl" | "mpi". nccl needs a CUDA device and a build with NCCL, mpi a build
// with MPI (the store is not used).
std::unique_ptr<Communicator> make_communicator(const std::string& backend, Store& store, Device device,
                                                double timeout_s);

void check_same_config(Communicator& comm, const std::string& text);

// Everything a distributed stage holds: the store (rank 0 serves it) and the communicator.
struct DistContext {
  DistEnv env;
  std::unique_ptr<Store> store;
  std::unique_ptr<Communicator> comm;
  int rank() const { return env.rank; }
  int world_size() const { return env.world_size; }
  bool is_root() const { return env.rank == 0; }
};

// Joins the job described by the environment (core/dist/env.h): store, communicator, config check. Returns
// nullptr when no launcher variables are set (one process) or backend is "none" with world size 1.
// backend "none" with world size > 1 is an error.
std::unique_ptr<DistContext> join_job(const std::string& backend, Device device, double timeout_s,
                                      const std::string& config_text);

}  // namespace sra::dist
