// Run configs: YAML → RunConfig with strict, located errors; overrides; resolved dump; conversions.
// See run/config.h for the formats and messages.
#include "run/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra {

namespace {

namespace fs = std::filesystem;

// ---- text helpers ----------------------------------------------------------------------------------

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  // Keep it a float for any YAML reader: "3" → "3.0", "3e-04" → "3.0e-04" (YAML 1.1 wants the dot).
  if (s.find_first_of(".n") != std::string::npos) return s;
  size_t e = s.find('e');
  if (e == std::string::npos) return s + ".0";
  return s.substr(0, e) + ".0" + s.substr(e);
}

// A bound as written in messages: "0", "1", "0.5" (no ".0" added).
std::string format_bound(const ConfigKey& k, double v) {
  if (k.type != ConfigType::kFloat) return std::to_string(int64_t(v));
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string quote_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

}  // namespace

size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

// Section names: every proper dotted prefix of a schema key ("model", "data", "data.synthetic").
const std::set<std::string>& config_sections() {
  static const std::set<std::string> sections = [] {
    std::set<std::string> s;
    for (const ConfigKey& k : config_schema())
      for (size_t dot = k.key.find('.'); dot != std::string::npos; dot = k.key.find('.', dot + 1))
        s.insert(k.key.substr(0, dot));
    return s;
  }();
  return sections;
}

bool is_section(const std::string& name) {
  return config_sections().count(name) > 0;
}

// "unknown key 'model.d_modle' (did you mean 'model.d_model'?)": the closest key or section within edit
// distance 2, else a key of another section with the same last name ("train.lr" → "optimizer.lr").
std::string unknown_key_message(const std::string& name) {
  std::string best;
  size_t best_d = 3;
  auto consider = [&](const std::string& cand) {
    size_t d = levenshtein(name, cand);
    if (d < best_d && d < name.size()) {
      best_d = d;
      best = cand;
    }
  };
  for (const ConfigKey& k : config_schema()) consider(k.key);
  for (const std::string& s : config_sections()) consider(s);
  if (best.empty()) {
    std::string last = split_key(name).back();
    for (const ConfigKey& k : config_schema())
      if (split_key(k.key).back() == last) {
        best = k.key;
        break;
      }
  }
  std::string msg = "unknown key '" + name + "'";
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  return msg;
}

// ---- values ------------------------------------------------------------------------------------------

std::string describe(const YAML::Node& n) {
  if (n.IsNull()) return "an empty value";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "'" + n.Scalar() + "'";
}

bool parse_int(const std::string& text, int64_t& out) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool parse_float(const std::string& text, double& out) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto r = std::from_chars(b, e, out, std::chars_format::general);
  return r.ec == std::errc() && r.ptr == e;
}

bool parse_bool(const std::string& text, bool& out) {
  if (text == "true" || text == "True" || text == "TRUE") {
    out = true;
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

// "" when v is within k's bounds, else "must be > 0, got -1".
std::string bound_error(const ConfigKey& k, double v, const std::string& text) {
  bool ok = true;
  if (k.has_min) ok = ok && (k.min_open ? v > k.min : v >= k.min);
  if (k.has_max) ok = ok && (k.max_open ? v < k.max : v <= k.max);
  if (ok) return "";
  return config_range_text(k) + ", got " + text;
}

// Checks a field's current value against the schema: "" or the message (without key or location).
std::string value_error(const ConfigKey& k, RunConfig& cfg) {
  switch (k.type) {
    case ConfigType::kInt: {
      int64_t v = k.int_field(cfg);
      return bound_error(k, double(v), std::to_string(v));
    }
    case ConfigType::kFloat: {
      double v = k.float_field(cfg);
      if (!std::isfinite(v)) return "must be finite, got " + format_double(v);
      return bound_error(k, v, format_double(v));
    }
    case ConfigType::kEnum: {
      const std::string& v = k.string_field(cfg);
      if (k.check) return k.check(v);
      if (std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end())
        return "must be one of " + join(k.choices, ", ") + ", got '" + v + "'";
      return "";
    }
    default:
      return "";
  }
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error("[config] " + where + ": " + what);
}

int line_of(const YAML::Node& n, const YAML::Node& fallback) {
  int line = n.Mark().line;
  if (line < 0) line = fallback.Mark().line;
  return line + 1;
}

// Sets key k of cfg from node n. `where` locates n ("FILE:LINE" or "--set K=V") in messages.
void set_value(const ConfigKey& k, RunConfig& cfg, const YAML::Node& n, const std::string& where) {
  const std::string expected =
      "expected " +
      (k.type == ConfigType::kEnum ? "one of " + join(k.choices, ", ") : config_type_name(k.type)) + ", got ";
  if (k.type == ConfigType::kIntList) {
    if (!n.IsSequence()) fail(where, k.key + ": " + expected + describe(n));
    std::vector<int64_t> values;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node e = n[i];
      int64_t v = 0;
      if (!e.IsScalar() || !parse_int(e.Scalar(), v))
        fail(where, k.key + "[" + std::to_string(i) + "]: expected an integer, got " + describe(e));
      values.push_back(v);
    }
    k.list_field(cfg) = values;
    return;
  }
  if (!n.IsScalar()) fail(where, k.key + ": " + expected + describe(n));
  const std::string& text = n.Scalar();
  switch (k.type) {
    case ConfigType::kInt: {
      int64_t v = 0;
      if (!parse_int(text, v)) fail(where, k.key + ": " + expected + describe(n));
      k.int_field(cfg) = v;
      break;
    }
    case ConfigType::kFloat: {
      double v = 0;
      if (!parse_float(text, v)) fail(where, k.key + ": " + expected + describe(n));
      k.float_field(cfg) = v;
      break;
    }
    case ConfigType::kBool: {
      bool v = false;
      if (!parse_bool(text, v)) fail(where, k.key + ": " + expected + describe(n));
      k.bool_field(cfg) = v;
      break;
    }
    default:
      k.string_field(cfg) = text;
      break;
  }
  std::string err = value_error(k, cfg);
  if (!err.empty()) fail(where, k.key + ": " + err);
}

// ---- cross-field checks -------------------------------------------------------------------------------

struct Issue {
  std::string message;
  std::vector<std::string> keys;  // the keys it names
};

// The first cross-field problem, if any.
bool cross_check(const RunConfig& c, Issue& issue) {
  auto bad = [&](std::vector<std::string> keys, std::string msg) {
    issue.keys = std::move(keys);
    issue.message = std::move(msg);
    return true;
  };
  if (c.router.threshold_update == "quantile" && c.router.threshold_lr > 1)
    return bad(
        {"router.threshold_lr", "router.threshold_update"},
        detail::concat("router.threshold_lr (", c.router.threshold_lr,
                       ") must be in [0, 1] with router.threshold_update quantile (it is an EMA rate)"));
  {  // the metrics file lives in the run directory: relative, no "..", a file name at the end
    const std::filesystem::path mf(c.logging.metrics_file);
    bool inside = !mf.empty() && mf.is_relative() && mf.has_filename();
    for (const auto& part : mf) inside = inside && part != "..";
    if (!inside)
      return bad({"logging.metrics_file"},
                 "logging.metrics_file '" + c.logging.metrics_file +
                     "' must be a file name relative to the run directory (no absolute path, no '..')");
  }
  const ModelSection& m = c.model;
  if (!c.train.init_from.empty() && (c.train.init_from.rfind("hf:", 0) != 0 || c.train.init_from.size() == 3))
    return bad({"train.init_from"}, "train.init_from must be hf:DIR (a Hugging Face model directory), got '" +
                                        c.train.init_from + "'");
  if (c.train.freeze_base && m.attention != "sra")
    return bad(
        {"train.freeze_base", "model.attention"},
        "train.freeze_base needs model.attention sra (only the routers train; a dense model has none)");
  if (c.train.base_dtype == "bf16" && !c.train.freeze_base)
    return bad({"train.base_dtype", "train.freeze_base"},
               "train.base_dtype bf16 needs train.freeze_base true (AdamW keeps f32 master weights for what "
               "trains)");
  if (c.train.distill_weight > 0 && m.attention != "sra")
    return bad(
        {"train.distill_weight", "model.attention"},
        "train.distill_weight > 0 needs model.attention sra (it distils the dense model into the SRA one)");
  if (m.rope_scaling.type == "llama3" && m.rope_scaling.high_freq_factor <= m.rope_scaling.low_freq_factor)
    return bad({"model.rope_scaling.high_freq_factor", "model.rope_scaling.low_freq_factor"},
               "model.rope_scaling.high_freq_factor must be > model.rope_scaling.low_freq_factor");
  if (m.d_model % m.n_heads != 0)
    return bad({"model.d_model", "model.n_heads"},
               detail::concat("model.d_model (", m.d_model, ") must be a multiple of model.n_heads (",
                              m.n_heads, ")"));
  if ((m.d_model / m.n_heads) % 2 != 0)
    return bad({"model.d_model", "model.n_heads"},
               detail::concat("model.d_model / model.n_heads (the head dim, ", m.d_model / m.n_heads,
                              ") must be even for rotary embeddings"));
  if (m.n_heads % m.n_kv_heads != 0)
    return bad({"model.n_heads", "model.n_kv_heads"},
               detail::concat("model.n_heads (", m.n_heads, ") must be a multiple of model.n_kv_heads (",
                              m.n_kv_heads, ")"));
  for (int64_t l : m.dense_layers)
    if (l < -m.n_layers || l >= m.n_layers)
      return bad({"model.dense_layers", "model.n_layers"},
                 detail::concat("model.dense_layers entry ", l, " is out of range for model.n_layers (",
                                m.n_layers, ")"));
  if (c.data.seq_len > m.max_seq_len)
    return bad({"data.seq_len", "model.max_seq_len"},
               detail::concat("data.seq_len (", c.data.seq_len, ") must be <= model.max_seq_len (",
                              m.max_seq_len, ")"));
  if (c.data.tokenizer.empty() && m.vocab_size < 256)
    return bad({"model.vocab_size", "data.tokenizer"},
               detail::concat("model.vocab_size (", m.vocab_size,
                              ") must be >= 256 for byte tokens (data.tokenizer is empty)"));
  if (c.data.dataset != "synthetic" && c.data.path.empty())
    return bad({"data.path", "data.dataset"},
               "data.path must be set for data.dataset " + c.data.dataset + " (only synthetic needs none)");
  const SyntheticSection& s = c.data.synthetic;
  if (s.min_hops > s.max_hops)
    return bad({"data.synthetic.min_hops", "data.synthetic.max_hops"},
               detail::concat("data.synthetic.min_hops (", s.min_hops,
                              ") must be <= data.synthetic.max_hops (", s.max_hops, ")"));
  if (s.min_distractors > s.max_distractors)
    return bad({"data.synthetic.min_distractors", "data.synthetic.max_distractors"},
               detail::concat("data.synthetic.min_distractors (", s.min_distractors,
                              ") must be <= data.synthetic.max_distractors (", s.max_distractors, ")"));
  if (c.schedule.warmup_steps > c.train.steps)
    return bad({"schedule.warmup_steps", "train.steps"},
               detail::concat("schedule.warmup_steps (", c.schedule.warmup_steps,
                              ") must be <= train.steps (", c.train.steps, ")"));
  const bool on_cuda = device_value_error(c.device).empty() && Device::parse(c.device).is_cuda();
  if (c.precision == "bf16" && !on_cuda)
    return bad({"precision", "device"}, "precision bf16 needs device cuda (the CPU kernels compute in f32)");
  if (c.distributed.backend == "nccl" && !on_cuda)
    return bad({"distributed.backend", "device"}, "distributed.backend nccl needs device cuda");
  return false;
}

// ---- loading -----------------------------------------------------------------------------------------

struct Origin {
  int64_t order = 0;
  std::string where;
};

struct Loader {
  std::string source;
  RunConfig cfg;
  std::map<std::string, Origin> origins;
  int64_t next_order = 0;

  void set(const ConfigKey& k, const YAML::Node& value, const std::string& where) {
    set_value(k, cfg, value, where);
    origins[k.key] = Origin{next_order++, where};
  }

  void walk(const YAML::Node& map, const std::string& prefix) {
    std::map<std::string, int> seen;  // name → line, within this mapping
    for (YAML::const_iterator it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;  // copies: `it->` yields a temporary proxy
      const YAML::Node value = it->second;
      const std::string where = source + ":" + std::to_string(line_of(key, map));
      if (!key.IsScalar()) fail(where, "keys must be plain names, got " + describe(key));
      const std::string name = prefix.empty() ? key.Scalar() : prefix + "." + key.Scalar();
      auto [pos, fresh] = seen.emplace(name, line_of(key, map));
      if (!fresh)
        fail(where, "duplicate key '" + name + "' (first at line " + std::to_string(pos->second) + ")");
      if (const ConfigKey* k = find_config_key(name)) {
        auto prev = origins.find(name);
        if (prev != origins.end())
          fail(where, "duplicate key '" + name + "' (first at " + prev->second.where + ")");
        // an empty value's mark is where the parser stopped (the next line): use the key's line
        set(*k, value,
            source + ":" + std::to_string(value.IsNull() ? line_of(key, map) : line_of(value, key)));
      } else if (is_section(name)) {
        if (value.IsNull()) continue;  // "router:" with no keys keeps the defaults
        if (!value.IsMap())
          fail(where, "'" + name + "' is a section: expected a mapping of its keys, got " + describe(value));
        walk(value, name);
      } else {
        fail(where, unknown_key_message(name));
      }
    }
  }

  void override_with(const std::string& assignment) {
    const std::string where = "--set " + assignment;
    size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) fail(where, "expected KEY=VALUE, e.g. model.d_model=512");
    const std::string name = assignment.substr(0, eq);
    const std::string text = assignment.substr(eq + 1);
    const ConfigKey* k = find_config_key(name);
    if (!k) {
      if (is_section(name)) fail(where, "'" + name + "' is a section, not a key (set one of its keys)");
      fail(where, unknown_key_message(name));
    }
    YAML::Node value;
    if (text.empty() && k->type == ConfigType::kString) {
      value = YAML::Node(std::string());
    } else {
      try {
        value = YAML::Load(text);
      } catch (const YAML::Exception& e) {
        fail(where, "invalid YAML value: " + e.msg);
      }
    }
    set(*k, value, where);
  }

  void cross_validate() {
    Issue issue;
    if (!cross_check(cfg, issue)) return;
    // Point at the most recently set of the keys involved; the source when all are defaults.
    std::string where = source;
    int64_t latest = -1;
    for (const std::string& key : issue.keys) {
      auto it = origins.find(key);
      if (it != origins.end() && it->second.order > latest) {
        latest = it->second.order;
        where = it->second.where;
      }
    }
    fail(where, issue.message);
  }
};

void emit(std::ostream& os, const RunConfig& cfg_in, bool with_docs) {
  RunConfig cfg = cfg_in;  // the field accessors take a mutable config
  std::vector<std::string> prev;
  for (const ConfigKey& k : config_schema()) {
    std::vector<std::string> parts = split_key(k.key);
    size_t depth = parts.size() - 1;
    size_t common = 0;
    while (common < depth && common + 1 < prev.size() && prev[common] == parts[common]) ++common;
    if (with_docs && common == 0 && !prev.empty()) os << "\n";
    for (size_t d = common; d < depth; ++d) os << std::string(2 * d, ' ') << parts[d] << ":\n";
    std::string indent(2 * depth, ' ');
    if (with_docs) {
      std::string info = config_type_name(k.type);
      if (info.rfind("an ", 0) == 0) info = info.substr(3);
      if (info.rfind("a ", 0) == 0) info = info.substr(2);
      if (k.type == ConfigType::kEnum) info = join(k.choices, " | ");
      std::string range = config_range_text(k);
      if (!range.empty()) info += ", " + range.substr(std::string("must be ").size());
      os << indent << "# " << k.doc << " [" << info << "]\n";
    }
    os << indent << parts.back() << ": ";
    switch (k.type) {
      case ConfigType::kInt:
        os << k.int_field(cfg);
        break;
      case ConfigType::kFloat:
        os << format_double(k.float_field(cfg));
        break;
      case ConfigType::kBool:
        os << (k.bool_field(cfg) ? "true" : "false");
        break;
      case ConfigType::kString:
        os << quote_string(k.string_field(cfg));
        break;
      case ConfigType::kEnum:
        os << k.string_field(cfg);
        break;
      case ConfigType::kIntList: {
        const std::vector<int64_t>& v = k.list_field(cfg);
        os << "[";
        for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
        os << "]";
        break;
      }
    }
    os << "\n";
    prev = parts;
  }
}

}  // namespace

std::string config_type_name(ConfigType t) {
  switch (t) {
    case ConfigType::kInt:
      return "an integer";
    case ConfigType::kFloat:
      return "a number";
    case ConfigType::kBool:
      return "true or false";
    case ConfigType::kString:
      return "a string";
    case ConfigType::kEnum:
      return "a name";
    case ConfigType::kIntList:
      return "a list of integers";
  }
  return "?";
}

std::string config_range_text(const ConfigKey& k) {
  if (k.has_min && k.has_max)
    return std::string("must be in ") + (k.min_open ? "(" : "[") + format_bound(k, k.min) + ", " +
           format_bound(k, k.max) + (k.max_open ? ")" : "]");
  if (k.has_min) return std::string("must be ") + (k.min_open ? "> " : ">= ") + format_bound(k, k.min);
  if (k.has_max) return std::string("must be ") + (k.max_open ? "< " : "<= ") + format_bound(k, k.max);
  return "";
}

namespace {

// True when the text is blank or holds only comments (and document markers): YAML that sets nothing.
bool holds_no_yaml(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t at = line.find_first_not_of(" \t\r");
    if (at == std::string::npos || line[at] == '#') continue;
    const std::string rest = line.substr(at, line.find_last_not_of(" \t\r") + 1 - at);
    if (rest == "---" || rest == "...") continue;
    return false;
  }
  return true;
}

}  // namespace

RunConfig load_config_string(const std::string& yaml, const std::string& source,
                             const std::vector<std::string>& overrides,
                             std::map<std::string, std::string>* origins) {
  Loader loader;
  loader.source = source;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail(source + ":" + std::to_string(e.mark.line + 1),
         "invalid YAML: " + e.msg + " (column " + std::to_string(e.mark.column + 1) + ")");
  }
  if (!root.IsNull()) {
    if (!root.IsMap())
      fail(source + ":" + std::to_string(line_of(root, root)),
           "the top level must be a mapping of sections and keys, got " + describe(root));
    loader.walk(root, "");
  }
  for (const std::string& o : overrides) loader.override_with(o);
  loader.cross_validate();
  if (origins) {
    origins->clear();
    for (const auto& [key, origin] : loader.origins) (*origins)[key] = origin.where;
  }
  return loader.cfg;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides,
                      std::map<std::string, std::string>* origins) {
  std::error_code ec;
  SRA_CHECK(fs::exists(path, ec), "[config] config file '", path, "' does not exist");
  SRA_CHECK(fs::is_regular_file(path, ec), "[config] config file '", path, "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[config] cannot read config file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  SRA_CHECK(!in.bad(), "[config] cannot read config file '", path, "'");
  const std::string text = ss.str();
  SRA_CHECK(!holds_no_yaml(text), "[config] config file '", path,
            "' is empty (only whitespace or comments): a run would silently take every default; write the "
            "keys to set (configs/reference.yaml lists them all)");
  return load_config_string(text, path, overrides, origins);
}

void apply_override(RunConfig& cfg, const std::string& assignment) {
  Loader loader;
  loader.cfg = cfg;
  loader.override_with(assignment);
  cfg = loader.cfg;
}

void validate_config(const RunConfig& cfg_in) {
  RunConfig cfg = cfg_in;
  for (const ConfigKey& k : config_schema()) {
    std::string err = value_error(k, cfg);
    SRA_CHECK(err.empty(), "[config] ", k.key, ": ", err);
  }
  Issue issue;
  SRA_CHECK(!cross_check(cfg, issue), "[config] ", issue.message);
}

std::string dump_resolved_yaml(const RunConfig& cfg) {
  std::ostringstream os;
  emit(os, cfg, false);
  return os.str();
}

void write_resolved_config(const RunConfig& cfg, const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SRA_CHECK(out.good(), "[config] cannot write '", tmp, "'");
    out << dump_resolved_yaml(cfg);
    out.flush();
    SRA_CHECK(out.good(), "[config] cannot write '", tmp, "'");
  }
  fs::rename(tmp, path, ec);
  SRA_CHECK(!ec, "[config] cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

std::string reference_yaml() {
  std::ostringstream os;
  os << "# Reference run config: every key, with its default value and a one-line doc [type, range].\n"
        "# Generated from the schema in run/config_schema.cpp; tests/test_config.cpp keeps it in sync\n"
        "# (regenerate: SRA_REGEN_REFERENCE=1 ./build/sra_tests -tc='config reference*').\n"
        "# A run config sets only the keys it changes; `--set section.key=value` overrides any key.\n\n";
  emit(os, RunConfig{}, true);
  return os.str();
}

// ---- conversions ---------------------------------------------------------------------------------------

RouterConfig to_router_config(const RunConfig& cfg) {
  return cfg.router;
}

TransformerConfig to_transformer_config(const RunConfig& cfg) {
  TransformerConfig t = cfg.model;
  t.dtype = DType::f32;
  t.router = to_router_config(cfg);
  return t;
}

AdamWConfig to_adamw_config(const RunConfig& cfg) {
  return cfg.optimizer;
}

std::string device_value_error(const std::string& value) {
  try {
    Device::parse(value);
    return "";
  } catch (const Error&) {
    return "must be cpu, cuda or cuda:N (N = a GPU index), got '" + value + "'";
  }
}

Device parse_device_spec(const std::string& spec) {
  const std::string err = device_value_error(spec);
  SRA_CHECK(err.empty(), "[config] device: ", err);
  const Device d = Device::parse(spec);
  if (d.is_cpu()) return d;
  SRA_CHECK(cuda::built_with_cuda(), "[config] device ", spec,
            ": SRA was built without CUDA (configure with -DSRA_CUDA=ON, or use device cpu)");
  const int n = cuda::device_count();
  SRA_CHECK(n > 0, "[config] device ", spec,
            ": no CUDA device is visible (see nvidia-smi and CUDA_VISIBLE_DEVICES, or use device cpu)");
  SRA_CHECK(d.index < n, "[config] device ", spec, ": only ", n, " CUDA device", n == 1 ? " is" : "s are",
            " visible (cuda:0", n > 1 ? " to cuda:" + std::to_string(n - 1) : std::string(), ")");
  return d;
}

DType compute_dtype(const RunConfig& cfg) {
  return cfg.precision == "bf16" ? DType::bf16 : DType::f32;
}

Device run_device(const RunConfig& cfg) {
  return parse_device_spec(cfg.device);
}

SyntheticOptions to_synthetic_options(const RunConfig& cfg) {
  SyntheticOptions o;
  o.min_hops = int(cfg.data.synthetic.min_hops);
  o.max_hops = int(cfg.data.synthetic.max_hops);
  o.min_distractors = int(cfg.data.synthetic.min_distractors);
  o.max_distractors = int(cfg.data.synthetic.max_distractors);
  o.context_chars = cfg.data.synthetic.context_chars;
  o.unused_variables = int(cfg.data.synthetic.unused_variables);
  o.max_value = int(cfg.data.synthetic.max_value);
  o.seed = uint64_t(cfg.data.seed);
  return o;
}

}  // namespace sra
