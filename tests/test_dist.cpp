// Data parallel over CPU ranks (core/dist/, docs/distributed.md): the launcher variables, the TCP store and
// collectives between threads of this process, and end to end through the `sra` binary:
// 2 ranks x b rows equal 1 rank x 2b rows after k steps, resume on another number of ranks, a killed or
// stopped rank ends the job within the timeout (the last checkpoint still loads), eval over 2 ranks
// writes what 1 rank writes, and a config that differs between ranks is refused at start.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <thread>

#include "autograd/ops.h"
#include "child_process.h"
#include "cli_test_util.h"
#include "core/dist/collectives.h"
#include "core/dist/env.h"
#include "core/dist/launch.h"
#include "core/dist/socket.h"
#include "data_test_util.h"
#include "eval/shard.h"
#include "model/optimizer.h"
#include "train/grad_sync.h"
#include "train/zero.h"

namespace {

using namespace sra;
using namespace sra::testing;
namespace fs = std::filesystem;

dist::DistEnv env_of(std::map<std::string, std::string> vars) {
  return dist::dist_env_from([vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

int free_port() {
  return dist::Listener(0).port();
}

// Runs fn(rank, store) on `world` threads that form one job on a fresh port; returns their errors.
std::vector<std::string> run_threads(int world, double timeout_s,
                                     const std::function<void(int, dist::Store&)>& fn) {
  const int port = free_port();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        dist::DistEnv e;
        e.rank = r, e.world_size = world, e.master_port = port, e.launcher = "torchrun";
        dist::Store store(e, timeout_s);
        fn(r, store);
      } catch (const std::exception& ex) {
        errors[size_t(r)] = ex.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace

TEST_CASE("dist env: torchrun, Open MPI and SLURM variables; bad values are named") {
  dist::DistEnv e = env_of({});
  CHECK(e.world_size == 1);
  CHECK(!e.distributed());
  e = env_of({{"RANK", "1"},
              {"WORLD_SIZE", "4"},
              {"LOCAL_RANK", "1"},
              {"MASTER_ADDR", "10.0.0.2"},
              {"MASTER_PORT", "1234"}});
  CHECK(e.rank == 1);
  CHECK(e.world_size == 4);
  CHECK(e.local_rank == 1);
  CHECK(e.master_addr == "10.0.0.2");
  CHECK(e.master_port == 1234);
  CHECK(e.launcher == "torchrun");
  e = env_of(
      {{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "8"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  CHECK((e.rank == 3 && e.world_size == 8 && e.local_rank == 1 && e.launcher == "mpirun"));
  CHECK(e.master_addr == "127.0.0.1");
  CHECK(e.master_port == 29500);
  e = env_of({{"SLURM_PROCID", "5"},
              {"SLURM_NTASKS", "8"},
              {"SLURM_LOCALID", "1"},
              {"SLURM_LAUNCH_NODE_IPADDR", "10.1.1.1"}});
  CHECK((e.rank == 5 && e.world_size == 8 && e.local_rank == 1 && e.launcher == "slurm"));
  CHECK(e.master_addr == "10.1.1.1");
  CHECK(error_of([] {
          env_of({{"RANK", "x"}, {"WORLD_SIZE", "2"}});
        }) == "[dist] RANK='x' is not an integer");
  CHECK(error_of([] { env_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}); }) == "[dist] RANK=2 is outside [0, 1]");
  CHECK(error_of([] {
          env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "0"}});
        }) == "[dist] MASTER_PORT=0 is outside [1, 65535]");
  CHECK(dist::strip_nproc_option({"sra", "train", "--nproc-per-node", "2", "--out", "x"}) ==
        std::vector<std::string>{"sra", "train", "--out", "x"});
  CHECK(dist::strip_nproc_option({"sra", "eval", "--nproc-per-node=2"}) ==
        std::vector<std::string>{"sra", "eval"});
}

TEST_CASE("dist tcp: all_reduce, broadcast, all_gather between 3 ranks; the same bits on every rank") {
  std::vector<std::vector<float>> got(3);
  std::vector<std::vector<std::string>> gathered(3);
  std::vector<double> f64(3), bf(3);
  auto errors = run_threads(3, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    Tensor t = Tensor::from_vector<float>({float(r) + 0.1f, 1.0f, -2.0f * float(r)}, {3});
    comm->all_reduce_sum(t, "test");
    got[size_t(r)] = t.to_vector<float>();
    Tensor d = Tensor::full({1}, 0.25 * (r + 1), DType::f64);
    comm->all_reduce_sum(d, "test f64");
    f64[size_t(r)] = d.item();
    Tensor b = Tensor::full({2}, 1.5, DType::bf16);
    comm->all_reduce_sum(b, "test bf16");
    bf[size_t(r)] = b.to(DType::f32).to_vector<float>()[1];
    Tensor c = Tensor::full({2}, double(r == 0 ? 7 : -1));
    comm->broadcast(c, "test broadcast");
    CHECK(c.to_vector<float>() == std::vector<float>{7, 7});
    gathered[size_t(r)] = comm->all_gather("rank" + std::string(size_t(r) + 1, '!'), "test gather");
    comm->barrier("test barrier");
    dist::check_same_config(*comm, "same text");
  });
  for (const std::string& e : errors) CHECK(e == "");
  for (int r = 0; r < 3; ++r) {
    CHECK(got[size_t(r)] == got[0]);  // bitwise: rank 0 sums in rank order and sends the result
    CHECK(f64[size_t(r)] == 1.5);
    CHECK(bf[size_t(r)] == 4.5f);
    CHECK(gathered[size_t(r)] == std::vector<std::string>{"rank!", "rank!!", "rank!!!"});
  }
  CHECK(got[0][0] == doctest::Approx(3.3f));
  CHECK(got[0][2] == -6.0f);
}

TEST_CASE("dist tcp: reduce_scatter_sum and all_gather_chunks between 3 ranks (ZeRO-1's collectives)") {
  // 6 elements = 3 chunks of 2; rank r holds r·10 + i + 0.1 at element i
  std::vector<std::vector<float>> full(3), scattered(3), gathered(3);
  auto errors = run_threads(3, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    std::vector<float> v(6);
    for (int i = 0; i < 6; ++i) v[size_t(i)] = float(r * 10 + i) + 0.1f;
    Tensor a = Tensor::from_vector<float>(v, {6});
    comm->all_reduce_sum(a, "reference");
    full[size_t(r)] = a.to_vector<float>();
    Tensor t = Tensor::from_vector<float>(v, {6});
    comm->reduce_scatter_sum(t, "test scatter");
    scattered[size_t(r)] = t.narrow(0, 2 * r, 2).to_vector<float>();
    Tensor g = Tensor::full({6}, -1.0);
    g.narrow(0, 2 * r, 2).copy_(Tensor::from_vector<float>({float(r), float(r) + 0.5f}, {2}));
    comm->all_gather_chunks(g, "test gather chunks");
    gathered[size_t(r)] = g.to_vector<float>();
    Tensor odd = Tensor::zeros({4});
    if (r == 0) comm->reduce_scatter_sum(odd, "4 elements on 3 ranks");
  });
  CHECK(errors[0].find("[dist] reduce_scatter (4 elements on 3 ranks): needs a contiguous f32, bf16 or f64 "
                       "tensor of world size (3) equal chunks, got 4 elements") == 0);
  for (int r = 0; r < 3; ++r) {
    // the same bits as the all-reduce's chunk r
    CHECK(scattered[size_t(r)] == std::vector<float>(full[0].begin() + 2 * r, full[0].begin() + 2 * r + 2));
    CHECK(gathered[size_t(r)] == std::vector<float>{0, 0.5f, 1, 1.5f, 2, 2.5f});
  }
  CHECK(full[0][5] == doctest::Approx(3 * 5 + 30 + 0.3));
}

TEST_CASE("dist overlap: buckets all-reduced during the backward give reduce()'s bits on every rank") {
  // 2 ranks; 4 parameters of 8 floats in 4 buckets of 40 bytes (one each); w3 gets no gradient
  std::vector<std::vector<std::vector<float>>> overlapped(2), plain(2);
  std::vector<int> reported(2, 0);
  auto errors = run_threads(2, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    NamedTensors params;
    for (int i = 0; i < 4; ++i) {
      std::vector<float> v(8);
      for (int j = 0; j < 8; ++j) v[size_t(j)] = 0.1f * float(i + 1) + 0.03f * float(j);
      Tensor p = Tensor::from_vector<float>(v, {8});
      p.set_requires_grad(true);
      params.emplace_back("w" + std::to_string(i), p);
    }
    std::vector<float> xv(8);
    for (int j = 0; j < 8; ++j) xv[size_t(j)] = 0.7f * float(j - 3) + 0.37f * float(r);
    const Tensor x = Tensor::from_vector<float>(xv, {8});
    auto loss = [&] {
      Tensor h = tanh(mul(x, params[0].second));
      h = tanh(add(h, params[2].second));
      return sum(mul(h, params[1].second));
    };
    GradSync sync(params, *comm, 40);
    CHECK(sync.num_buckets() == 4);
    auto grads = [&] {
      std::vector<std::vector<float>> g;
      for (auto& [name, p] : params)
        g.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
      for (auto& [name, p] : params) p.zero_grad();
      return g;
    };
    LeafReadyFn hook = sync.overlap_hook("step 1");
    backward(loss(), Tensor(), false, [&](const Tensor& leaf) {
      ++reported[size_t(r)];
      hook(leaf);
    });
    sync.finish("step 1");
    overlapped[size_t(r)] = grads();
    backward(loss());
    sync.reduce("step 1", true);
    plain[size_t(r)] = grads();
  });
  for (const std::string& e : errors) CHECK(e == "");
  for (int r = 0; r < 2; ++r) {
    CHECK(reported[size_t(r)] == 3);  // w3 is on no node
    CHECK(overlapped[size_t(r)] == plain[size_t(r)]);
    CHECK(overlapped[size_t(r)] == overlapped[0]);
  }
  CHECK(overlapped[0][3].empty());
  CHECK(overlapped[0][0].size() == 8);
}

TEST_CASE("dist zero: sharded AdamW over 3 ranks = GradSync + AdamW; its gathered state loads back") {
  // 4 parameters of 5, 7, 3 and 11 elements in buckets of 48 bytes: {w0, w1} (12 = 3 chunks of 4, rank 1's
  // chunk spans w0 and w1), {w2} (3 chunks of 1), {w3} (11 padded to 12); clipping active (max_norm 0.5);
  // w0 and w3 are 2-D (weight decay)
  const std::vector<Shape> shapes = {{5, 1}, {7}, {3}, {11, 1}};
  auto make_params = [&] {
    NamedTensors params;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor p = Tensor::zeros(shapes[i]);
      std::vector<float> v(size_t(p.numel()));
      for (size_t j = 0; j < v.size(); ++j) v[j] = 0.2f * float(i + 1) - 0.05f * float(j);
      p = Tensor::from_vector<float>(v, shapes[i]);
      p.set_requires_grad(true);
      params.emplace_back("w" + std::to_string(i), p);
    }
    return params;
  };
  // rank r's gradient at step t: cos of the element, the rank and the step
  auto set_grads = [](NamedTensors& params, int r, int t) {
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor& p = params[i].second;
      std::vector<float> c(size_t(p.numel()));
      for (size_t j = 0; j < c.size(); ++j)
        c[j] = std::cos(float(j) + 1.7f * float(r) + 0.3f * float(t + int(i)));
      backward(sum(mul(p, Tensor::from_vector<float>(c, p.shape()))));
    }
  };
  const AdamWConfig cfg{1e-2, 0.9, 0.95, 1e-8, 0.1};
  std::vector<std::vector<std::vector<float>>> plain(3), zero(3);
  std::vector<std::vector<std::vector<float>>> plain_state(3), zero_state(3), reloaded(3);
  std::vector<double> plain_norm(3), zero_norm(3);
  auto errors = run_threads(3, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    NamedTensors a = make_params(), b = make_params();
    GradSync sync(a, *comm, 48);
    AdamW opt_a(a, cfg);
    ZeroAdamW opt_b(b, cfg, *comm, 48);
    CHECK(opt_b.num_buckets() == 3);
    CHECK(opt_b.owned_elements() == 4 + 1 + 4 - (r == 2 ? 1 : 0));  // w3's padding is rank 2's
    for (int t = 0; t < 3; ++t) {
      set_grads(a, r, t);
      sync.average("step");
      Tensor ns = grad_norm_and_scale(a, 0.5);
      opt_a.step(1e-2, ns.narrow(0, 1, 1));
      opt_a.zero_grad();
      plain_norm[size_t(r)] = ns.to_vector<double>()[0];
      set_grads(b, r, t);
      zero_norm[size_t(r)] = opt_b.step(1e-2, 0.5, "step").to_vector<double>()[0];
      opt_b.zero_grad();
    }
    for (auto& [n, p] : a) plain[size_t(r)].push_back(p.to_vector<float>());
    for (auto& [n, p] : b) zero[size_t(r)].push_back(p.to_vector<float>());
    for (auto& [n, t] : opt_a.state()) plain_state[size_t(r)].push_back(t.to_vector<float>());
    Checkpoint ck;
    add_optimizer_state(ck, opt_b.gather_state("save"), opt_b.steps());
    for (auto& [n, t] : ck.tensors)
      if (is_floating(t.dtype())) zero_state[size_t(r)].push_back(t.to_vector<float>());
    ZeroAdamW fresh(b, cfg, *comm, 48);
    fresh.load_state(ck);
    CHECK(fresh.steps() == 3);
    for (auto& [n, t] : fresh.gather_state("reload")) reloaded[size_t(r)].push_back(t.to_vector<float>());
  });
  for (const std::string& e : errors) CHECK(e == "");
  auto close = [](const std::vector<std::vector<float>>& x, const std::vector<std::vector<float>>& y) {
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      REQUIRE(x[i].size() == y[i].size());
      for (size_t j = 0; j < x[i].size(); ++j)
        CHECK(x[i][j] == doctest::Approx(y[i][j]).epsilon(1e-6).scale(1e-6));
    }
  };
  for (int r = 0; r < 3; ++r) {
    CHECK(zero[size_t(r)] == zero[0]);  // the all-gather: every rank the same bits
    close(plain[size_t(r)], zero[size_t(r)]);
    close(plain_state[size_t(r)], zero_state[size_t(r)]);
    CHECK(reloaded[size_t(r)] == zero_state[size_t(r)]);
    CHECK(zero_norm[size_t(r)] == doctest::Approx(plain_norm[size_t(r)]).epsilon(1e-12));
  }
  CHECK(plain_norm[0] > 0.5);  // the clip was active
  CHECK(plain[0][0] != make_params()[0].second.to_vector<float>());
}

TEST_CASE("dist tcp: a config mismatch, a different collective and a dead rank are named errors") {
  auto errors = run_threads(2, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    dist::check_same_config(*comm, r == 0 ? "model: a" : "model: b");
  });
  for (const std::string& e : errors)
    CHECK(e.find("[dist] the resolved config differs between ranks (hash:length): rank 0 has ") == 0);
  errors = run_threads(2, 20, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 20);
    Tensor t = Tensor::zeros({4});
    if (r == 0) comm->all_reduce_sum(t, "step 1");
    if (r == 1) comm->all_gather("x", "step 1");
  });
  CHECK(errors[0].find("[dist] rank 0: all_reduce of 16 bytes (step 1) met rank 1's all_gather") == 0);
  CHECK(errors[1].find("[dist] rank 1: all_gather with rank 0 (step 1): the peer closed the connection") ==
        0);
  // rank 1 leaves without calling: rank 0's all_reduce ends naming it, long before the timeout
  const auto t0 = std::chrono::steady_clock::now();
  errors = run_threads(2, 30, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 30);
    comm->barrier("start");
    Tensor t = Tensor::zeros({4});
    if (r == 0) comm->all_reduce_sum(t, "gradient bucket 0 of step 3");
  });
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 10);
  CHECK(errors[0].find("[dist] rank 0: all_reduce with rank 1 (gradient bucket 0 of step 3): the peer "
                       "closed the connection") == 0);
  CHECK(errors[1] == "");
  // a rank that stops answering: the timeout
  errors = run_threads(2, 2, [&](int r, dist::Store& store) {
    auto comm = dist::make_tcp_communicator(store, 2);
    Tensor t = Tensor::zeros({4});
    if (r == 0) comm->all_reduce_sum(t, "step 9");
    if (r == 1) std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  });
  CHECK(errors[0].find("[dist] rank 0: all_reduce with rank 1 (step 9): no answer before the timeout") == 0);
}

TEST_CASE("dist eval shard: packed samples round-trip exactly") {
  std::vector<eval::EvalSample> a(3), b(3);
  a[2].output = "x\n#### 4";
  a[2].score.correct = true;
  a[2].score.extracted = "4";
  a[2].score.extracted_flexible = "4";
  a[2].answer_tokens = 9;
  a[2].cache_bytes = 4096;
  a[2].finish_reason = "stop";
  a[2].selected_ratio = 1.0 / 3.0;
  a[2].flops = 1e12 + 0.5;
  a[2].latency_ms = 0.1;
  eval::unpack_samples(eval::pack_samples(a, {2}), b);
  CHECK(b[2].to_json("gsm8k").dump() == a[2].to_json("gsm8k").dump());
  CHECK(b[0].output == "");
  CHECK(error_of([&] {
          eval::unpack_samples(eval::pack_samples(a, {2}).substr(0, 20), b);
        }).find("[eval] truncated sample pack") == 0);
}
