// The tcp communicator (a star through rank 0), the nccl communicator's host side, the config check and
// join_job: see core/dist/collectives.h.
#include "core/dist/collectives.h"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "core/check.h"
#include "core/crc32c.h"
#include "core/dist/mpi.h"
#include "core/dist/nccl.h"
#include "core/dist/rank_sum.h"

namespace sra::dist {

namespace {

// The tcp backend's communication thread: runs the queued all-reduces one at a time, in order; started
// with the first one. After an error it drops the rest (the ranks' exchange is broken) and wait()
// rethrows it.
class CommThread {
 public:
  using Fn = std::function<void(Tensor&, const std::string&)>;
  explicit CommThread(Fn fn) : fn_(std::move(fn)) {}
  ~CommThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void push(const Tensor& t, const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
      queue_.emplace_back(t, what);
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      auto [t, what] = std::move(queue_.front());
      queue_.pop_front();
      if (!error_) {
        busy_ = true;
        lock.unlock();
        try {
          fn_(t, what);
        } catch (...) {
          lock.lock();
          error_ = std::current_exception();
          lock.unlock();
        }
        lock.lock();
        busy_ = false;
      }
      cv_.notify_all();
    }
  }
  Fn fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Tensor, std::string>> queue_;
  bool busy_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

class TcpCommunicator : public Communicator {
 public:
  TcpCommunicator(Store& store, double timeout_s) : timeout_s_(timeout_s), addr_(store.env().master_addr) {
    rank_ = store.env().rank;
    world_ = store.env().world_size;
    const double deadline = steady_now() + timeout_s_;
    if (rank_ == 0) {
      Listener listener(0);
      store.set("tcp/port", std::to_string(listener.port()));
      peers_.resize(size_t(world_));
      for (int i = 1; i < world_; ++i) {
        Socket s = listener.accept(deadline, "rank 0: waiting for the other ranks to connect (" +
                                                 std::to_string(i - 1) + " of " + std::to_string(world_ - 1) +
                                                 " did)");
        const uint64_t r = s.recv_u64(deadline, "rank 0: connecting ranks");
        SRA_CHECK(r >= 1 && r < uint64_t(world_) && !peers_[r].valid(),
                  "[dist] rank 0: a peer said it is rank ", r, " (world size ", world_,
                  "): two jobs on one MASTER_PORT?");
        peers_[r] = std::move(s);
      }
    } else {
      const int port = std::stoi(store.get("tcp/port"));
      peers_.resize(1);
      const std::string what = "rank " + std::to_string(rank_) + ": connecting to rank 0";
      peers_[0] = connect_to(addr_, port, deadline, what);
      peers_[0].send_u64(uint64_t(rank_), deadline, what);
    }
  }

  std::string backend() const override { return "tcp"; }

  void all_reduce_sum(Tensor& t, const std::string& what) override { reduce(t, kAllReduce, what); }
  void all_reduce_sum_async(Tensor& t, const std::string& what) override {
    if (world_ == 1 || t.device().is_cuda()) return all_reduce_sum(t, what);  // device: through the host
    async_.push(t, what);
  }
  void wait_async() override { async_.wait(); }
  void reduce_scatter_sum(Tensor& t, const std::string& what) override { reduce(t, kReduceScatter, what); }

  void all_gather_chunks(Tensor& t, const std::string& what) override {
    check_host_operand(t, "all_gather_chunks", world_, true, what);
    if (world_ == 1) return;
    if (via_host(t, [&](Tensor& h) { all_gather_chunks(h, what); })) return;
    const size_t bytes = size_t(t.numel()) * dtype_size(t.dtype()), chunk = bytes / size_t(world_);
    char* data = static_cast<char*>(t.raw());
    const double deadline = steady_now() + timeout_s_;
    if (rank_ != 0) {
      send_header(peers_[0], {kGatherChunks, chunk}, deadline, 0, what);
      peers_[0].send_all(data + size_t(rank_) * chunk, chunk, deadline, context(kGatherChunks, 0, what));
      recv_header(peers_[0], {kGatherChunks, bytes}, deadline, 0, what);
      peers_[0].recv_all(data, bytes, deadline, context(kGatherChunks, 0, what));
      t.bump_version();
      return;
    }
    for (int r = 1; r < world_; ++r) {
      recv_header(peers_[r], {kGatherChunks, chunk}, deadline, r, what);
      peers_[r].recv_all(data + size_t(r) * chunk, chunk, deadline, context(kGatherChunks, r, what));
    }
    t.bump_version();
    for (int r = 1; r < world_; ++r) {
      send_header(peers_[r], {kGatherChunks, bytes}, deadline, r, what);
      peers_[r].send_all(data, bytes, deadline, context(kGatherChunks, r, what));
    }
  }

  void broadcast(Tensor& t, const std::string& what) override {
    SRA_CHECK(t.is_contiguous(), "[dist] broadcast (", what, "): needs a contiguous tensor");
    if (world_ == 1) return;
    if (via_host(t, [&](Tensor& h) { broadcast(h, what); })) return;
    const size_t bytes = size_t(t.numel()) * dtype_size(t.dtype());
    char* data = static_cast<char*>(t.raw());
    const double deadline = steady_now() + timeout_s_;
    if (rank_ == 0) {
      for (int r = 1; r < world_; ++r) {
        send_header(peers_[r], {kBroadcast, bytes}, deadline, r, what);
        peers_[r].send_all(data, bytes, deadline, context(kBroadcast, r, what));
      }
    } else {
      recv_header(peers_[0], {kBroadcast, bytes}, deadline, 0, what);
      peers_[0].recv_all(data, bytes, deadline, context(kBroadcast, 0, what));
      t.bump_version();
    }
  }

  std::vector<std::string> all_gather(const std::string& bytes, const std::string& what) override {
    std::vector<std::string> all(static_cast<size_t>(world_));
    all[size_t(rank_)] = bytes;
    if (world_ == 1) return all;
    const double deadline = steady_now() + timeout_s_;
    if (rank_ != 0) {
      send_header(peers_[0], {kGather, 0}, deadline, 0, what);
      peers_[0].send_str(bytes, deadline, context(kGather, 0, what));
      recv_header(peers_[0], {kGather, 0}, deadline, 0, what);
      for (std::string& s : all) s = peers_[0].recv_str(deadline, context(kGather, 0, what));
      return all;
    }
    for (int r = 1; r < world_; ++r) {
      recv_header(peers_[r], {kGather, 0}, deadline, r, what);
      all[size_t(r)] = peers_[r].recv_str(deadline, context(kGather, r, what));
    }
    for (int r = 1; r < world_; ++r) {
      send_header(peers_[r], {kGather, 0}, deadline, r, what);
      for (const std::string& s : all) peers_[r].send_str(s, deadline, context(kGather, r, what));
    }
    return all;
  }

  void barrier(const std::string& what) override { all_gather("", what); }

 private:
  // "rank 0: all_reduce with rank 1 (gradient bucket 0 of step 3)"
  std::string context(uint64_t op, int peer, const std::string& what) const {
    return "rank " + std::to_string(rank_) + ": " + op_name(op) + " with rank " + std::to_string(peer) +
           " (" + what + ")";
  }
  void send_header(const Socket& s, Header h, double deadline, int peer, const std::string& what) {
    s.send_all(&h, sizeof(h), deadline, context(h.op, peer, what));
  }
  void recv_header(const Socket& s, Header want, double deadline, int peer, const std::string& what) {
    Header h;
    s.recv_all(&h, sizeof(h), deadline, context(want.op, peer, what));
    SRA_CHECK(h.op == want.op && (want.op == kGather || h.bytes == want.bytes), "[dist] rank ", rank_, ": ",
              op_name(want.op), " of ", want.bytes, " bytes (", what, ") met rank ", peer, "'s ",
              op_name(h.op), " of ", h.bytes, " bytes: the ranks run different code paths or models");
  }

  // all_reduce (every rank gets the sum) or reduce_scatter (rank r gets chunk r of it): every rank sends
  // its whole buffer to rank 0, which sums in rank order and sends back the sum or its chunk.
  void reduce(Tensor& t, uint64_t op, const std::string& what) {
    if (op == kAllReduce)
      check_host_operand(t, "all_reduce", world_, false, what);
    else
      check_host_operand(t, "reduce_scatter", world_, true, what);
    if (world_ == 1) return;
    if (via_host(t, [&](Tensor& h) { reduce(h, op, what); })) return;
    const size_t bytes = size_t(t.numel()) * dtype_size(t.dtype());
    const size_t back = op == kAllReduce ? bytes : bytes / size_t(world_);  // what each rank gets back
    char* data = static_cast<char*>(t.raw());
    const double deadline = steady_now() + timeout_s_;
    if (rank_ != 0) {
      const size_t at = op == kAllReduce ? 0 : size_t(rank_) * back;
      send_header(peers_[0], {op, bytes}, deadline, 0, what);
      peers_[0].send_all(data, bytes, deadline, context(op, 0, what));
      recv_header(peers_[0], {op, back}, deadline, 0, what);
      peers_[0].recv_all(data + at, back, deadline, context(op, 0, what));
      t.bump_version();
      return;
    }
    RankSum sum(t.numel(), t.dtype());
    sum.add(data);
    std::vector<char> buf(bytes);
    for (int r = 1; r < world_; ++r) {  // in rank order: the sum does not depend on timing
      recv_header(peers_[r], {op, bytes}, deadline, r, what);
      peers_[r].recv_all(buf.data(), bytes, deadline, context(op, r, what));
      sum.add(buf.data());
    }
    sum.write(data);
    t.bump_version();
    for (int r = 1; r < world_; ++r) {
      const size_t at = op == kAllReduce ? 0 : size_t(r) * back;
      send_header(peers_[r], {op, back}, deadline, r, what);
      peers_[r].send_all(data + at, back, deadline, context(op, r, what));
    }
  }

  double timeout_s_;
  std::string addr_;
  std::vector<Socket> peers_;  // rank 0: by rank (0 unused); others: [0] = rank 0
  CommThread async_{[this](Tensor& t, const std::string& what) { reduce(t, kAllReduce, what); }};  // last
};

// NCCL for device tensors, tcp for the rest.
class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(Store& store, Device device, double timeout_s)
      : host_(make_tcp_communicator(store, timeout_s)), device_(device) {
    rank_ = host_->rank();
    world_ = host_->world_size();
    if (rank_ == 0) store.set("nccl/id", nccl::unique_id());
    comm_ = nccl::init(store.get("nccl/id"), world_, rank_, device.index, timeout_s);
  }
  ~NcclCommunicator() override { nccl::destroy(comm_); }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t, const std::string& what) override {
    if (!t.device().is_cuda()) return host_->all_reduce_sum(t, what);
    SRA_CHECK(t.device() == device_, "[dist] all_reduce (", what, "): tensor on ", t.device().str(),
              ", the communicator's device is ", device_.str());
    check_host_operand(t, "all_reduce", world_, false, what);
    nccl::all_reduce_sum(comm_, t.raw(), size_t(t.numel()), dtype_code(t), what);
    t.bump_version();
  }
  void broadcast(Tensor& t, const std::string& what) override {
    if (!t.device().is_cuda()) return host_->broadcast(t, what);
    SRA_CHECK(t.is_contiguous(), "[dist] broadcast (", what, "): needs a contiguous tensor");
    nccl::broadcast(comm_, t.raw(), size_t(t.numel()) * dtype_size(t.dtype()), what);
    t.bump_version();
  }
  void all_reduce_sum_async(Tensor& t, const std::string& what) override {
    if (!t.device().is_cuda()) return host_->all_reduce_sum_async(t, what);
    SRA_CHECK(t.device() == device_ && t.is_contiguous() && is_floating(t.dtype()), "[dist] all_reduce (",
              what, "): needs a contiguous f32, bf16 or f64 tensor on ", device_.str());
    nccl::all_reduce_sum_async(comm_, t.raw(), size_t(t.numel()), dtype_code(t), what);
    t.bump_version();
  }
  bool grouped_in_place() const override { return true; }
  void all_reduce_group_async(const std::vector<Tensor>& ts, bool mean, const std::string& what) override {
    if (ts.empty()) return;
    std::vector<void*> data;
    std::vector<size_t> counts;
    for (const Tensor& t : ts) {
      SRA_CHECK(t.device() == device_ && t.is_contiguous() && t.dtype() == ts.front().dtype() &&
                    is_floating(t.dtype()),
                "[dist] all_reduce (", what, "): needs contiguous tensors of one float dtype on ",
                device_.str());
      data.push_back(t.raw());
      counts.push_back(size_t(t.numel()));
    }
    nccl::all_reduce_group_async(comm_, data, counts, dtype_code(ts.front()), mean, what);
    for (const Tensor& t : ts) t.bump_version();
  }
  void wait_async() override {
    nccl::wait_async(comm_);
    host_->wait_async();
  }
  void reduce_scatter_sum(Tensor& t, const std::string& what) override {
    if (!t.device().is_cuda()) return host_->reduce_scatter_sum(t, what);
    check_device_chunked(t, "reduce_scatter", what);
    nccl::reduce_scatter_sum(comm_, t.raw(), size_t(t.numel() / world_), dtype_code(t), what);
    t.bump_version();
  }
  void all_gather_chunks(Tensor& t, const std::string& what) override {
    if (!t.device().is_cuda()) return host_->all_gather_chunks(t, what);
    check_device_chunked(t, "all_gather_chunks", what);
    nccl::all_gather_chunks(comm_, t.raw(), size_t(t.numel() / world_) * dtype_size(t.dtype()), what);
    t.bump_version();
  }
  std::vector<std::string> all_gather(const std::string& bytes, const std::string& what) override {
    return host_->all_gather(bytes, what);
  }
  void barrier(const std::string& what) override { host_->barrier(what); }

 private:
  static int dtype_code(const Tensor& t) {
    return t.dtype() == DType::f32 ? 0 : t.dtype() == DType::bf16 ? 1 : 2;
  }
  void check_device_chunked(const Tensor& t, const char* op, const std::string& what) const {
    SRA_CHECK(t.device() == device_, "[dist] ", op, " (", what, "): tensor on ", t.device().str(),
              ", the communicator's device is ", device_.str());
    SRA_CHECK(t.is_contiguous() && is_floating(t.dtype()) && t.numel() % world_ == 0, "[dist] ", op, " (",
              what, "): needs a contiguous f32, bf16 or f64 tensor of world size (", world_,
              ") equal chunks");
  }
  std::unique_ptr<Communicator> host_;
  Device device_;
  nccl::Comm* comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_tcp_communicator(Store& store, double timeout_s) {
  return std::make_unique<TcpCommunicator>(store, timeout_s);
}

void Communicator::all_reduce_group_async(const std::vector<Tensor>&, bool, const std::string& what) {
  SRA_ASSERT(false, "[dist] all_reduce (", what, "): the ", backend(),
             " backend has no grouped in-place all-reduce");
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend, Store& store, Device device,
                                                double timeout_s) {
  SRA_CHECK(backend == "auto" || backend == "tcp" || backend == "nccl" || backend == "mpi",
            "[dist] unknown backend '", backend, "' (auto, tcp, nccl, mpi)");
  if (backend == "mpi") return mpi::make_communicator(store.env());
  const bool nccl = backend == "nccl" || (backend == "auto" && device.is_cuda() && nccl::built());
  if (!nccl) return make_tcp_communicator(store, timeout_s);
  SRA_CHECK(device.is_cuda(), "[dist] distributed.backend nccl needs device cuda, got ", device.str());
  SRA_CHECK(nccl::built(), "[dist] distributed.backend nccl: this sra was built without NCCL");
  return std::make_unique<NcclCommunicator>(store, device, timeout_s);
}

void check_same_config(Communicator& comm, const std::string& text) {
  char mine[32];
  std::snprintf(mine, sizeof(mine), "%08x:%zu", crc32c(text.data(), text.size()), text.size());
  const std::vector<std::string> all = comm.all_gather(mine, "config check");
  std::string diff;
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) diff += ", rank " + std::to_string(r) + " has " + all[r];
  }
  SRA_CHECK(diff.empty(), "[dist] the resolved config differs between ranks (hash:length): rank 0 has ",
            all[0], diff, " — every rank must get the same config file and --set overrides");
}

std::unique_ptr<DistContext> join_job(const std::string& backend, Device device, double timeout_s,
                                      const std::string& config_text) {
  DistEnv env = dist_env();
  if (!env.distributed()) return nullptr;
  if (backend == "none") {
    SRA_CHECK(env.world_size == 1, "[config] distributed.backend is none but the launcher (", env.launcher,
              ") started ", env.world_size, " ranks: set distributed.backend auto, tcp, nccl or mpi");
    return nullptr;
  }
  auto ctx = std::make_unique<DistContext>();
  ctx->env = env;
  if (backend == "mpi") {  // MPI does its own rendezvous: no store
    SRA_CHECK(
        env.launcher == "mpirun", "[dist] distributed.backend mpi runs under mpirun, but the ranks were ",
        env.launcher == "torchrun" ? "started by --nproc-per-node or torchrun" : "started by " + env.launcher,
        ": use mpirun -np N sra ... (or distributed.backend tcp)");
    ctx->comm = mpi::make_communicator(env);
    check_same_config(*ctx->comm, config_text);
    return ctx;
  }
  ctx->store = std::make_unique<Store>(env, timeout_s);
  ctx->comm = make_communicator(backend, *ctx->store, device, timeout_s);
  check_same_config(*ctx->comm, config_text);
  return ctx;
}

}  // namespace sra::dist
