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

std::string strip_prefix(const std::string& msg, const std::string& prefix) {
  return msg.compare(0, prefix.size(), prefix) == 0 ? msg.substr(prefix.size()) : msg;
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
  for (const std::string& p : list_checkpoints(dir)) {
    try {
      return std::make_pair(p, load_checkpoint(p));
    } catch (const Error& e) {
      warn << "warning: skipping " << p << ": " << strip_prefix(e.what(), "[checkpoint] " + p + ": ") << "\n";
    }
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, Checkpoint>> checkpoint_to_resume(const std::string& out_dir,
                                                                       const std::string& resume,
                                                                       std::ostream& log,
                                                                       const char* component) {
  if (resume.empty()) {
    std::vector<std::string> existing = list_checkpoints(out_dir);
    SRA_CHECK(existing.empty(), "[", component, "] ", out_dir, " already holds checkpoints (",
              existing.front(),
              "); resume with \"auto\" or a checkpoint path, or use another output directory");
    return std::nullopt;
  }
  if (resume == "auto") {
    auto found = load_newest_valid_checkpoint(out_dir, log);
    if (!found) log << "no checkpoint in " << out_dir << ": starting from step 0\n";
    return found;
  }
  return std::make_pair(resume, load_checkpoint(resume));
}

std::optional<std::string> newest_valid_checkpoint(const std::string& dir, std::ostream& warn) {
  auto found = load_newest_valid_checkpoint(dir, warn);
  if (!found) return std::nullopt;
  return found->first;
}

void keep_last(const std::string& dir, int64_t k) {
  SRA_CHECK(k >= 1, "[checkpoint] keep_last needs k ≥ 1 (got ", k, ")");
  std::vector<std::string> all = list_checkpoints(dir);
  std::vector<std::string> doomed(all.begin() + std::min<int64_t>(k, int64_t(all.size())), all.end());
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
    std::string msg = "[checkpoint] " + std::to_string(all.size()) + " mismatched tensor" +
                      (all.size() == 1 ? "" : "s") + " under '" + prefix + "': ";
    for (size_t i = 0; i < all.size(); ++i) msg += (i ? "; " : "") + all[i];
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
  add_tensors(ckpt, optim.state(), prefix + "state/");
  ckpt.tensors.emplace_back(prefix + "steps", Tensor::from_vector(std::vector<int64_t>{optim.steps()}, {}));
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
