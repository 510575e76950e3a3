// Checkpoint directories (ckpt-<step>.h5 naming, listing, resume, pruning) and the state naming that
// fills and applies checkpoints (module, optimizer, generator). The file format is run/checkpoint_file.cpp;
// the contracts are in run/checkpoint.h.
#include "run/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <ostream>
#include <regex>
#include <set>

#include "autograd/tape.h"

namespace sra {

namespace fs = std::filesystem;

namespace {

// The reason of a "[checkpoint] <path>: <reason>" error about `path` (the whole message otherwise).
std::string reason_of(const Error& e, const std::string& path) {
  const std::string msg = e.what(), prefix = "[checkpoint] " + path + ": ";
  return msg.compare(0, prefix.size(), prefix) == 0 ? msg.substr(prefix.size()) : msg;
}

// The newest checkpoint of dir that loads, calling on_failure(path, reason) for each newer one that fails.
template <typename OnFailure>
std::optional<std::pair<std::string, Checkpoint>> newest_loading(const std::string& dir,
                                                                 OnFailure on_failure) {
  for (const std::string& p : list_checkpoints(dir)) {
    try {
      return std::make_pair(p, load_checkpoint(p));
    } catch (const Error& e) {
      on_failure(p, reason_of(e, p));
    }
  }
  return std::nullopt;
}

}  // namespace

// ---- checkpoint directories -------------------------------------------------------------------------

std::string checkpoint_path(const std::string& dir, int64_t step) {
  SRA_CHECK(step >= 0, "[checkpoint] negative step ", step);
  char name[48];
  std::snprintf(name, sizeof name, "ckpt-%08lld.h5", (long long)step);
  return (fs::path(dir) / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  static const std::regex pattern(R"(ckpt-(\d{8,18})\.h5)");
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  fs::directory_iterator it(dir, ec);
  SRA_CHECK(!ec, "[checkpoint] cannot list ", dir, ": ", ec.message());
  for (const fs::directory_entry& e : it) {
    std::string name = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, pattern) && e.is_regular_file(ec))
      found.emplace_back(std::stoll(m[1].str()), e.path().string());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& [step, p] : found) out.push_back(p);
  return out;
}

std::optional<std::pair<std::string, Checkpoint>> load_newest_valid_checkpoint(const std::string& dir,
                                                                               std::ostream& warn) {
  return newest_loading(dir, [&](const std::string& p, const std::string& reason) {
    warn << "warning: skipping " << p << ": " << reason << "\n";
  });
}

std::optional<std::string> newest_valid_checkpoint(const std::string& dir, std::ostream& warn) {
  auto found = load_newest_valid_checkpoint(dir, warn);
  if (!found) return std::nullopt;
  return found->first;
}

std::string set_aside_corrupt(const std::string& path, const std::string& reason, std::ostream& warn) {
  std::string to = path + ".corrupt";
  std::error_code ec;
  for (int n = 2; fs::exists(to, ec); ++n) to = path + ".corrupt-" + std::to_string(n);
  fs::rename(path, to, ec);
  SRA_CHECK(!ec, "[checkpoint] cannot rename corrupt ", path, " to ", to, ": ", ec.message());
  warn << "warning: " << path << " is corrupt (" << reason << "): renamed to " << to << "\n";
  return to;
}

std::vector<std::string> list_corrupt_checkpoints(const std::string& dir) {
  static const std::regex pattern(R"(ckpt-\d{8,18}\.h5\.corrupt(-\d+)?)");
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (std::regex_match(e.path().filename().string(), pattern)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string move_to_previous(const std::string& dir, const std::vector<std::string>& move,
                             const std::vector<std::string>& copy, std::ostream& log) {
  std::error_code ec;
  fs::path to;
  for (int n = 1;; ++n) {
    to = fs::path(dir) / ("previous-" + std::to_string(n));
    if (!fs::exists(to, ec)) break;
  }
  fs::create_directories(to, ec);
  SRA_CHECK(!ec, "[checkpoint] cannot create ", to.string(), ": ", ec.message());
  for (const std::string& p : copy) {
    fs::copy_file(p, to / fs::path(p).filename(), ec);
    SRA_CHECK(!ec, "[checkpoint] cannot copy ", p, " to ", to.string(), ": ", ec.message());
  }
  for (const std::string& p : move) {
    fs::rename(p, to / fs::path(p).filename(), ec);
    SRA_CHECK(!ec, "[checkpoint] cannot move ", p, " to ", to.string(), ": ", ec.message());
  }
  log << "moved " << move.size() + copy.size() << " file" << (move.size() + copy.size() == 1 ? "" : "s")
      << " of the earlier run to " << to.string() << "\n";
  return to.string();
}

namespace {

// The step of dir/ckpt-<step>.h5 (list_checkpoints names only).
int64_t step_of(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  return std::stoll(name.substr(5, name.size() - 8));
}

bool non_empty_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0;
}

// "checkpoints (newest X)", "corrupt checkpoints", "metrics (M)": what makes out_dir hold a run; "" if none.
std::string earlier_run(const std::string& out_dir, const std::string& metrics_path) {
  std::vector<std::string> parts;
  std::vector<std::string> ck = list_checkpoints(out_dir);
  if (!ck.empty()) parts.push_back("checkpoints, newest " + ck.front());
  std::vector<std::string> bad = list_corrupt_checkpoints(out_dir);
  if (!bad.empty()) parts.push_back(std::to_string(bad.size()) + " corrupt checkpoints (*.corrupt)");
  if (non_empty_file(metrics_path)) parts.push_back("metrics " + metrics_path);
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

std::optional<std::pair<std::string, Checkpoint>> checkpoint_to_resume(const RunStartOptions& o,
                                                                       std::ostream& log) {
  const std::string c = std::string("[") + o.component + "] ";
  SRA_CHECK(!(o.fresh && !o.resume.empty()), c, "--fresh and --resume exclude each other");
  if (o.fresh) {
    std::vector<std::string> move = list_checkpoints(o.out_dir), bad = list_corrupt_checkpoints(o.out_dir);
    move.insert(move.end(), bad.begin(), bad.end());
    if (non_empty_file(o.metrics_path)) move.push_back(o.metrics_path);
    if (!move.empty()) move_to_previous(o.out_dir, move, {}, log);
    return std::nullopt;
  }
  const std::string hint =
      "resume with --resume auto or a checkpoint path, start over with --fresh (the "
      "earlier run's files move to " +
      o.out_dir +
      "/previous-N/), or use another "
      "output directory";
  if (o.resume.empty()) {
    std::string earlier = earlier_run(o.out_dir, o.metrics_path);
    SRA_CHECK(earlier.empty(), c, o.out_dir, " already holds a run (", earlier, "); ", hint);
    return std::nullopt;
  }
  std::optional<std::pair<std::string, Checkpoint>> found;
  if (o.resume == "auto") {
    // the ones that fail to load are set aside as *.corrupt
    found = newest_loading(o.out_dir, [&](const std::string& p, const std::string& reason) {
      set_aside_corrupt(p, reason, log);
    });
    if (!found) {
      std::string earlier = earlier_run(o.out_dir, o.metrics_path);
      SRA_CHECK(earlier.empty(), c, "no valid checkpoint in ", o.out_dir, " but it holds a run (", earlier,
                "); start over with --fresh (the earlier run's files move to ", o.out_dir,
                "/previous-N/) or use another output directory");
      log << "no checkpoint in " << o.out_dir << ": starting from step 0\n";
      return std::nullopt;
    }
  } else {
    found = std::make_pair(o.resume, load_checkpoint(o.resume));
  }
  // Checkpoints of out_dir past the resumed step belong to work the resumed run redoes: set them aside
  // (with the metrics file as it is now), so keep_last never ranks them above the new ones.
  std::vector<std::string> later;
  std::error_code ec;
  for (const std::string& p : list_checkpoints(o.out_dir))
    if (step_of(p) > found->second.step && !fs::equivalent(p, found->first, ec)) later.push_back(p);
  if (!later.empty()) {
    std::vector<std::string> copy;
    if (non_empty_file(o.metrics_path)) copy.push_back(o.metrics_path);
    move_to_previous(o.out_dir, later, copy, log);
  }
  return found;
}

void keep_last(const std::string& dir, int64_t k, std::ostream& warn) {
  SRA_CHECK(k >= 1, "[checkpoint] keep_last needs k ≥ 1 (got ", k, ")");
  std::vector<std::string> doomed;
  int64_t valid = 0;
  for (const std::string& p : list_checkpoints(dir)) {
    if (valid >= k) {
      doomed.push_back(p);
      continue;
    }
    try {
      verify_checkpoint_file(p);
      ++valid;
    } catch (const Error& e) {
      set_aside_corrupt(p, reason_of(e, p), warn);
    }
  }
  static const std::regex tmp_pattern(R"(ckpt-\d{8,18}\.h5\.tmp-(\d{1,9}))");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      std::smatch m;
      if (!std::regex_match(name, m, tmp_pattern)) continue;
      pid_t pid = pid_t(std::stol(m[1].str()));
      if (pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) doomed.push_back(e.path().string());
    }
  }
  for (const std::string& p : doomed) {
    fs::remove(p, ec);
    SRA_CHECK(!ec, "[checkpoint] cannot delete ", p, ": ", ec.message());
  }
}

// ---- applying ---------------------------------------------------------------------------------------

void load_into(const NamedTensors& dst, const Checkpoint& ckpt, const std::string& prefix) {
  std::map<std::string, const Tensor*> src;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) src.emplace(name.substr(prefix.size()), &t);

  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> wanted;
  for (const auto& [name, t] : dst) {
    wanted.insert(name);
    auto it = src.find(name);
    if (it == src.end()) {
      missing.push_back("missing: " + name + " " + shape_str(t.shape()));
      continue;
    }
    const Tensor& s = *it->second;
    if (s.shape() != t.shape())
      mismatched.push_back("shape: " + name + " checkpoint " + shape_str(s.shape()) + " vs model " +
                           shape_str(t.shape()));
    else if (s.dtype() != t.dtype())
      mismatched.push_back("dtype: " + name + " checkpoint " + dtype_name(s.dtype()) + " vs model " +
                           dtype_name(t.dtype()));
  }
  for (const auto& [name, t] : ckpt.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0 && !wanted.count(name.substr(prefix.size())))
      unexpected.push_back("unexpected: " + name.substr(prefix.size()) + " " + shape_str(t.shape()));
  std::vector<std::string> all = missing;
  all.insert(all.end(), unexpected.begin(), unexpected.end());
  all.insert(all.end(), mismatched.begin(), mismatched.end());
  if (!all.empty()) {
    // a few per line, so that another config's checkpoint does not print one line of every tensor
    const size_t shown = std::min(all.size(), kMismatchesShown);
    std::string msg = "[checkpoint] " + std::to_string(all.size()) + " mismatched tensor" +
                      (all.size() == 1 ? "" : "s") + " under '" + prefix + "':";
    for (size_t i = 0; i < shown; ++i) msg += "\n  " + all[i];
    if (all.size() > shown) msg += "\n  ... and " + std::to_string(all.size() - shown) + " more";
    throw Error(msg);
  }

  NoGradGuard no_grad;
  for (const auto& [name, t] : dst) Tensor(t).copy_(src.at(name)->detach());  // any device, bumps the version
}

void add_tensors(Checkpoint& ckpt, const NamedTensors& src, const std::string& prefix) {
  for (const auto& [name, t] : src) ckpt.tensors.emplace_back(prefix + name, t);
}

NamedTensors module_state(const Module& m) {
  NamedTensors out = m.named_parameters();
  NamedTensors buffers = m.named_buffers();
  out.insert(out.end(), buffers.begin(), buffers.end());
  return out;
}

void add_module(Checkpoint& ckpt, const Module& m, const std::string& prefix) {
  add_tensors(ckpt, module_state(m), prefix);
}

void load_module(const Module& m, const Checkpoint& ckpt, const std::string& prefix) {
  load_into(module_state(m), ckpt, prefix);
}

void add_optimizer(Checkpoint& ckpt, const AdamW& optim, const std::string& prefix) {
  add_optimizer_state(ckpt, optim.state(), optim.steps(), prefix);
}

void add_optimizer_state(Checkpoint& ckpt, const NamedTensors& state, int64_t steps,
                         const std::string& prefix) {
  add_tensors(ckpt, state, prefix + "state/");
  ckpt.tensors.emplace_back(prefix + "steps", Tensor::from_vector(std::vector<int64_t>{steps}, {}));
}

void load_optimizer(AdamW& optim, const Checkpoint& ckpt, const std::string& prefix) {
  const Tensor* steps = ckpt.find(prefix + "steps");
  SRA_CHECK(steps && steps->dtype() == DType::i64 && steps->numel() == 1, "[checkpoint] no 0-d i64 tensor '",
            prefix, "steps' (the optimizer step count)");
  load_into(optim.state(), ckpt, prefix + "state/");
  optim.set_steps(steps->to_vector<int64_t>()[0]);
}

namespace {

Json u64_json(uint64_t v) {
  return v <= uint64_t(INT64_MAX) ? Json(int64_t(v)) : Json(std::to_string(v));
}

uint64_t u64_from_json(const Json& state, const char* key) {
  const Json* v = state.is_object() ? state.find(key) : nullptr;
  SRA_CHECK(v, "[checkpoint] bad generator state ", state.dump(), ": missing '", key, "'");
  if (v->is_int() && v->as_int() >= 0) return uint64_t(v->as_int());
  if (v->is_string()) {
    const std::string& s = v->as_string();
    bool digits = !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), ::isdigit);
    errno = 0;
    uint64_t x = digits ? std::strtoull(s.c_str(), nullptr, 10) : 0;
    if (digits && errno == 0) return x;
  }
  throw Error("[checkpoint] bad generator state " + state.dump() + ": '" + key +
              "' is not an unsigned 64-bit integer");
}

}  // namespace

Json generator_state(const Generator& gen) {
  return Json::object({{"seed", u64_json(gen.seed())},
                       {"stream", u64_json(gen.stream())},
                       {"offset", u64_json(gen.offset())}});
}

void set_generator_state(Generator& gen, const Json& state) {
  uint64_t seed = u64_from_json(state, "seed");
  uint64_t stream = u64_from_json(state, "stream");
  uint64_t offset = u64_from_json(state, "offset");
  gen = Generator(seed, stream);
  gen.set_state(seed, offset);
}

}  // namespace sra
