// The mpi communicator: gathers at rank 0, rank-order sums (tcp's RankSum), broadcasts; see core/dist/mpi.h.
#include "core/dist/mpi.h"

#define OMPI_SKIP_MPICXX 1  // the C API only: no deprecated C++ bindings (and their warnings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "core/check.h"
#include "core/dist/rank_sum.h"

namespace sra::dist::mpi {

namespace {

// Set when a communicator is destroyed by an exception (the job failed on this rank).
bool g_failed = false;

// MPI_Init_thread on first use; at process exit (after main has printed its error) MPI_Finalize, or
// MPI_Abort after a failure: Open MPI's MPI_Finalize waits for the other ranks, which may wait in a
// collective for this one, while MPI_Abort makes mpirun end them all.
struct Runtime {
  Runtime() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (ready) return;
    int provided = 0;
    SRA_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
              "[dist] MPI_Init_thread failed");
    owned = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become exceptions (check())
  }
  ~Runtime() {
    int done = 0;
    MPI_Finalized(&done);
    if (!owned || done) return;
    if (g_failed) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
  }
  bool owned = false;
};

void ensure_runtime() {
  static Runtime runtime;
}

// The largest piece (bytes) one rank sends in one MPI call: world · piece stays within an int count.
size_t piece_bytes(int world, size_t elem) {
  const size_t cap = std::min<size_t>(size_t(1) << 26, size_t(INT_MAX) / size_t(world));
  return std::max(elem, cap / elem * elem);
}

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const DistEnv& env) {
    ensure_runtime();
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank", "start");
    check(MPI_Comm_size(MPI_COMM_WORLD, &world_), "MPI_Comm_size", "start");
    g_failed = rank_ != env.rank || world_ != env.world_size;  // the destructor will not run
    SRA_CHECK(!g_failed, "[dist] MPI says rank ", rank_, " of ", world_, ", the launcher's variables (",
              env.launcher, ") say rank ", env.rank, " of ", env.world_size,
              ": start the job with mpirun -np N sra ...");
  }

  ~MpiCommunicator() override {
    if (std::uncaught_exceptions() > 0) g_failed = true;
  }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t, const std::string& what) override { reduce(t, kAllReduce, what); }
  void all_reduce_sum_async(Tensor& t, const std::string& what) override { all_reduce_sum(t, what); }
  void wait_async() override {}
  void reduce_scatter_sum(Tensor& t, const std::string& what) override { reduce(t, kReduceScatter, what); }
  void all_gather_chunks(Tensor& t, const std::string& what) override;
  void broadcast(Tensor& t, const std::string& what) override;
  std::vector<std::string> all_gather(const std::string& bytes, const std::string& what) override;
  void barrier(const std::string& what) override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier", what); }

 private:
  void check(int rc, const char* call, const std::string& what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error("[dist] rank " + std::to_string(rank_) + ": " + call + " failed (" + what +
                "): " + std::string(text, size_t(len)));
  }
  void same_op(uint64_t op, uint64_t bytes, const std::string& what);
  void reduce(Tensor& t, uint64_t op, const std::string& what);
  void sum_at_root(char* data, int64_t n, DType dtype, const std::string& what);
};

// Every rank's (operation, bytes): ranks on different code paths fail together, naming both.
void MpiCommunicator::same_op(uint64_t op, uint64_t bytes, const std::string& what) {
  const Header mine{op, bytes};
  std::vector<Header> all(static_cast<size_t>(world_));
  check(MPI_Allgather(&mine, int(sizeof(Header)), MPI_BYTE, all.data(), int(sizeof(Header)), MPI_BYTE,
                      MPI_COMM_WORLD),
        "MPI_Allgather", what);
  for (int r = 0; r < world_; ++r) {
    const Header& h = all[size_t(r)];
    SRA_CHECK(h.op == op && (op == kGather || h.bytes == bytes), "[dist] rank ", rank_, ": ", op_name(op),
              " of ", bytes, " bytes (", what, ") met rank ", r, "'s ", op_name(h.op), " of ", h.bytes,
              " bytes: the ranks run different code paths or models");
  }
}

// n elements at data: rank 0's become the ranks' rank-order sum; the others' are left as they are.
void MpiCommunicator::sum_at_root(char* data, int64_t n, DType dtype, const std::string& what) {
  const size_t elem = dtype_size(dtype), bytes = size_t(n) * elem, piece = piece_bytes(world_, elem);
  std::vector<char> buf(rank_ == 0 ? std::min(bytes, piece) * size_t(world_) : 0);
  for (size_t at = 0; at < bytes; at += piece) {  // element-wise sums: the pieces change no bit
    const size_t len = std::min(piece, bytes - at);
    check(MPI_Gather(data + at, int(len), MPI_BYTE, buf.data(), int(len), MPI_BYTE, 0, MPI_COMM_WORLD),
          "MPI_Gather", what);
    if (rank_ != 0) continue;
    RankSum sum(int64_t(len / elem), dtype);
    for (int r = 0; r < world_; ++r) sum.add(buf.data() + size_t(r) * len);  // in rank order
    sum.write(data + at);
  }
}

// all_reduce (every rank gets rank 0's sum) or reduce_scatter (rank r gets chunk r of it).
void MpiCommunicator::reduce(Tensor& t, uint64_t op, const std::string& what) {
  if (op == kAllReduce)
    check_host_operand(t, "all_reduce", world_, false, what);
  else
    check_host_operand(t, "reduce_scatter", world_, true, what);
  if (world_ == 1) return;
  if (via_host(t, [&](Tensor& h) { reduce(h, op, what); })) return;
  const size_t elem = dtype_size(t.dtype()), bytes = size_t(t.numel()) * elem;
  same_op(op, bytes, what);
  char* data = static_cast<char*>(t.raw());
  sum_at_root(data, t.numel(), t.dtype(), what);
  const size_t piece = piece_bytes(world_, elem);
  if (op == kAllReduce) {
    for (size_t at = 0; at < bytes; at += piece)
      check(MPI_Bcast(data + at, int(std::min(piece, bytes - at)), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast",
            what);
  } else {  // piece by piece of the chunk: rank 0 sends [r·chunk + at, +len) to rank r
    const size_t chunk = bytes / size_t(world_);
    for (size_t at = 0; at < chunk; at += piece) {
      const int len = int(std::min(piece, chunk - at));
      std::vector<char> all(rank_ == 0 ? size_t(len) * size_t(world_) : 0);
      for (int r = 0; rank_ == 0 && r < world_; ++r)
        std::memcpy(all.data() + size_t(r) * size_t(len), data + size_t(r) * chunk + at, size_t(len));
      char* mine = data + size_t(rank_) * chunk + at;
      check(MPI_Scatter(all.data(), len, MPI_BYTE, rank_ == 0 ? MPI_IN_PLACE : mine, len, MPI_BYTE, 0,
                        MPI_COMM_WORLD),
            "MPI_Scatter", what);
    }
  }
  t.bump_version();
}

void MpiCommunicator::all_gather_chunks(Tensor& t, const std::string& what) {
  check_host_operand(t, "all_gather_chunks", world_, true, what);
  if (world_ == 1) return;
  if (via_host(t, [&](Tensor& h) { all_gather_chunks(h, what); })) return;
  const size_t bytes = size_t(t.numel()) * dtype_size(t.dtype()), chunk = bytes / size_t(world_);
  same_op(kGatherChunks, chunk, what);
  char* data = static_cast<char*>(t.raw());
  const size_t piece = piece_bytes(world_, dtype_size(t.dtype()));
  std::vector<char> all(std::min(piece, chunk) * size_t(world_));
  for (size_t at = 0; at < chunk; at += piece) {  // piece [at, at + len) of every rank's chunk
    const size_t len = std::min(piece, chunk - at);
    check(MPI_Allgather(data + size_t(rank_) * chunk + at, int(len), MPI_BYTE, all.data(), int(len), MPI_BYTE,
                        MPI_COMM_WORLD),
          "MPI_Allgather", what);
    for (int r = 0; r < world_; ++r)
      std::memcpy(data + size_t(r) * chunk + at, all.data() + size_t(r) * len, len);
  }
  t.bump_version();
}

void MpiCommunicator::broadcast(Tensor& t, const std::string& what) {
  SRA_CHECK(t.is_contiguous(), "[dist] broadcast (", what, "): needs a contiguous tensor");
  if (world_ == 1) return;
  if (via_host(t, [&](Tensor& h) { broadcast(h, what); })) return;
  const size_t bytes = size_t(t.numel()) * dtype_size(t.dtype()), piece = size_t(1) << 30;
  same_op(kBroadcast, bytes, what);
  char* data = static_cast<char*>(t.raw());
  for (size_t at = 0; at < bytes; at += piece)
    check(MPI_Bcast(data + at, int(std::min(piece, bytes - at)), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast",
          what);
  if (rank_ != 0) t.bump_version();
}

std::vector<std::string> MpiCommunicator::all_gather(const std::string& bytes, const std::string& what) {
  std::vector<std::string> all(static_cast<size_t>(world_));
  all[size_t(rank_)] = bytes;
  if (world_ == 1) return all;
  same_op(kGather, 0, what);
  SRA_CHECK(bytes.size() <= size_t(INT_MAX) / size_t(world_), "[dist] all_gather (", what,
            "): ", bytes.size(), " bytes is too large for the mpi backend");
  const int mine = int(bytes.size());
  std::vector<int> sizes(static_cast<size_t>(world_)), displs(sizes.size());
  check(MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather", what);
  int64_t total = 0;
  for (int r = 0; r < world_; ++r) displs[size_t(r)] = int(total), total += sizes[size_t(r)];
  SRA_CHECK(total <= INT_MAX, "[dist] all_gather (", what, "): ", total, " bytes is too large for mpi");
  std::vector<char> buf(size_t(std::max<int64_t>(total, 1)));
  check(MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, buf.data(), sizes.data(), displs.data(), MPI_BYTE,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv", what);
  for (int r = 0; r < world_; ++r)
    all[size_t(r)].assign(buf.data() + displs[size_t(r)], size_t(sizes[size_t(r)]));
  return all;
}

}  // namespace

bool built() {
  return true;
}

std::unique_ptr<Communicator> make_communicator(const DistEnv& env) {
  return std::make_unique<MpiCommunicator>(env);
}

}  // namespace sra::dist::mpi
