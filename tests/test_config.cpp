// Run configs (run/config.h): schema defaults, every error message, overrides, the resolved dump's
// round trip, configs/reference.yaml in sync with the schema, and every shipped config loading.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/cuda_runtime.h"
#include "run/config.h"
#include "tests/data_test_util.h"

namespace {

namespace fs = std::filesystem;
using sra::RunConfig;
using sra::testing::error_of;
using sra::testing::slurp;
using sra::testing::temp_dir;
using sra::testing::write_text;

// Writes text to a fresh temp file "run.yaml" and returns its path.
std::string yaml_file(const std::string& text) {
  fs::path p = temp_dir("config") / "run.yaml";
  write_text(p, text);
  return p.string();
}

// A file that sets one key to its default: for tests of overrides alone (an empty file is refused).
const char* kOneKey = "precision: f32\n";

// The error of loading `text` from a file, with the file's path replaced by "F".
std::string load_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::string path = yaml_file(text);
  std::string e = error_of([&] { sra::load_config(path, overrides); });
  std::string out;
  size_t start = 0;
  for (size_t pos = e.find(path); pos != std::string::npos; pos = e.find(path, start)) {
    out += e.substr(start, pos - start) + "F";
    start = pos + path.size();
  }
  return out + e.substr(start);
}

const std::string kConfigsDir = std::string(SRA_SOURCE_DIR) + "/configs";

}  // namespace

TEST_CASE("config: defaults match the library's option structs and pass validation") {
  RunConfig c;
  CHECK_NOTHROW(sra::validate_config(c));
  sra::TransformerConfig t = sra::to_transformer_config(c), ref;
  CHECK(t.vocab_size == ref.vocab_size);
  CHECK(t.d_model == ref.d_model);
  CHECK(t.n_layers == ref.n_layers);
  CHECK(t.n_heads == ref.n_heads);
  CHECK(t.n_kv_heads == ref.n_kv_heads);
  CHECK(t.d_ff == ref.d_ff);
  CHECK(t.max_seq_len == ref.max_seq_len);
  CHECK(t.rope_theta == ref.rope_theta);
  CHECK(t.norm_eps == ref.norm_eps);
  CHECK(t.tie_embeddings == ref.tie_embeddings);
  CHECK(t.init_std == ref.init_std);
  CHECK(t.seed == ref.seed);
  CHECK(t.attention == ref.attention);
  CHECK(t.dense_layers == ref.dense_layers);
  CHECK(t.window == ref.window);
  CHECK(t.sinks == ref.sinks);
  CHECK(t.shared_router == ref.shared_router);
  sra::RouterConfig r = sra::to_router_config(c), rref;
  CHECK(r.hidden == rref.hidden);
  CHECK(r.target_ratio == rref.target_ratio);
  CHECK(r.temperature == rref.temperature);
  CHECK(r.threshold_lr == rref.threshold_lr);
  CHECK(r.budget_weight == rref.budget_weight);
  CHECK(r.init_threshold == rref.init_threshold);
  sra::AdamWConfig a = sra::to_adamw_config(c), aref;
  CHECK(a.lr == aref.lr);
  CHECK(a.beta1 == aref.beta1);
  CHECK(a.beta2 == aref.beta2);
  CHECK(a.eps == aref.eps);
  CHECK(a.weight_decay == aref.weight_decay);
  sra::SyntheticOptions s = sra::to_synthetic_options(c), sref;
  CHECK(s.min_hops == sref.min_hops);
  CHECK(s.max_hops == sref.max_hops);
  CHECK(s.min_distractors == sref.min_distractors);
  CHECK(s.max_distractors == sref.max_distractors);
  CHECK(s.context_chars == sref.context_chars);
  // empty text and empty sections give the defaults
  CHECK(sra::load_config_string("", "text") == c);
  CHECK(sra::load_config(yaml_file("# nothing\nrouter:\n")) == c);
}

TEST_CASE("config: the schema declares each key once, with a doc and a field of its type") {
  std::set<std::string> keys;
  for (const sra::ConfigKey& k : sra::config_schema()) {
    CAPTURE(k.key);
    CHECK(keys.insert(k.key).second);
    CHECK(!k.doc.empty());
    int fields = (k.int_field != nullptr) + (k.float_field != nullptr) + (k.bool_field != nullptr) +
                 (k.string_field != nullptr) + (k.list_field != nullptr);
    CHECK(fields == 1);
    CHECK((k.type != sra::ConfigType::kEnum || !k.choices.empty()));
    CHECK(sra::find_config_key(k.key) == &k);
  }
  CHECK(sra::find_config_key("model.d_modle") == nullptr);
  CHECK(keys.count("model.d_model") == 1);
  CHECK(keys.count("data.synthetic.max_hops") == 1);
  CHECK(keys.count("precision") == 1);
}

TEST_CASE("config: a file sets typed values in nested sections") {
  std::map<std::string, std::string> origins;
  std::string path = yaml_file(
      "model:\n"
      "  d_model: 512\n"
      "  n_heads: 8\n"
      "  rope_theta: 5e5\n"
      "  tie_embeddings: false\n"
      "  attention: sra\n"
      "  dense_layers: [0, 1, -1]\n"
      "data:\n"
      "  path: \"a b/c.txt\"\n"
      "  dataset: text\n"
      "  synthetic:\n"
      "    max_hops: 9\n"
      "optimizer: {lr: 1, eps: 1.0e-6}\n"
      "precision: f32\n");
  RunConfig c = sra::load_config(path, {}, &origins);
  CHECK(c.model.d_model == 512);
  CHECK(c.model.n_heads == 8);
  CHECK(c.model.rope_theta == 5e5);
  CHECK(c.model.tie_embeddings == false);
  CHECK(c.model.attention == "sra");
  CHECK(c.model.dense_layers == std::vector<int64_t>{0, 1, -1});
  CHECK(c.data.path == "a b/c.txt");
  CHECK(c.data.dataset == "text");
  CHECK(c.data.synthetic.max_hops == 9);
  CHECK(c.optimizer.lr == 1.0);
  CHECK(c.optimizer.eps == 1e-6);
  CHECK(c.model.n_layers == RunConfig{}.model.n_layers);  // untouched keys keep their defaults
  CHECK(origins.size() == 12);
  CHECK(origins["model.d_model"] == path + ":2");
  CHECK(origins["data.synthetic.max_hops"] == path + ":12");
  CHECK(sra::to_transformer_config(c).d_model == 512);
}

TEST_CASE("config: unknown keys are errors with the file, the line and a suggestion") {
  CHECK(load_error("model:\n  n_layers: 2\n  d_modle: 512\n") ==
        "[config] F:3: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
  CHECK(load_error("modle:\n  d_model: 512\n") ==
        "[config] F:1: unknown key 'modle' (did you mean 'model'?)");
  CHECK(load_error("train:\n  lr: 0.1\n") ==
        "[config] F:2: unknown key 'train.lr' (did you mean 'optimizer.lr'?)");
  CHECK(load_error("data:\n  synthetic:\n    max_hop: 3\n") ==
        "[config] F:3: unknown key 'data.synthetic.max_hop' (did you mean 'data.synthetic.max_hops'?)");
  CHECK(load_error("model:\n  flux_capacitor: 3\n") == "[config] F:2: unknown key 'model.flux_capacitor'");
  CHECK(load_error("model:\n  d_model: 512\n  d_model: 256\n") ==
        "[config] F:3: duplicate key 'model.d_model' (first at line 2)");
  CHECK(load_error("model: 3\n") ==
        "[config] F:1: 'model' is a section: expected a mapping of its keys, got '3'");
  CHECK(load_error("- a\n- b\n") ==
        "[config] F:1: the top level must be a mapping of sections and keys, got a list");
}

TEST_CASE("config: wrong types, ranges and enum values name the key and the line") {
  CHECK(load_error("model:\n  d_model: abc\n") ==
        "[config] F:2: model.d_model: expected an integer, got 'abc'");
  CHECK(load_error("model:\n  d_model: 5.5\n") ==
        "[config] F:2: model.d_model: expected an integer, got '5.5'");
  CHECK(load_error("model:\n  d_model:\n") ==
        "[config] F:2: model.d_model: expected an integer, got an empty value");
  CHECK(load_error("model:\n  d_model: [1]\n") ==
        "[config] F:2: model.d_model: expected an integer, got a list");
  CHECK(load_error("model:\n  d_model: -1\n") == "[config] F:2: model.d_model: must be > 0, got -1");
  CHECK(load_error("model:\n  sinks: -2\n") == "[config] F:2: model.sinks: must be >= 0, got -2");
  CHECK(load_error("model:\n  rope_theta: fast\n") ==
        "[config] F:2: model.rope_theta: expected a number, got 'fast'");
  CHECK(load_error("model:\n  rope_theta: .inf\n") ==
        "[config] F:2: model.rope_theta: expected a number, got '.inf'");
  CHECK(load_error("model:\n  rope_theta: inf\n") ==
        "[config] F:2: model.rope_theta: must be finite, got inf");
  CHECK(load_error("router:\n  target_ratio: 1.5\n") ==
        "[config] F:2: router.target_ratio: must be in (0, 1], got 1.5");
  CHECK(load_error("optimizer:\n  beta2: 1\n") ==
        "[config] F:2: optimizer.beta2: must be in [0, 1), got 1.0");
  CHECK(load_error("model:\n  tie_embeddings: yes\n") ==
        "[config] F:2: model.tie_embeddings: expected true or false, got 'yes'");
  CHECK(load_error("model:\n  attention: sparse\n") ==
        "[config] F:2: model.attention: must be one of dense, sra, got 'sparse'");
  CHECK(load_error("model:\n  attention: [sra]\n") ==
        "[config] F:2: model.attention: expected one of dense, sra, got a list");
  CHECK(load_error("model:\n  dense_layers: 0\n") ==
        "[config] F:2: model.dense_layers: expected a list of integers, got '0'");
  CHECK(load_error("model:\n  dense_layers:\n    - 0\n    - x\n") ==
        "[config] F:3: model.dense_layers[1]: expected an integer, got 'x'");
  CHECK(load_error("data:\n  path: {a: 1}\n") == "[config] F:2: data.path: expected a string, got a mapping");
}

TEST_CASE("config: cross-field checks name the keys and where the last of them was set") {
  CHECK(load_error("model:\n  d_model: 100\n  n_heads: 12\n") ==
        "[config] F:3: model.d_model (100) must be a multiple of model.n_heads (12)");
  CHECK(load_error("model:\n  d_model: 96\n  n_heads: 32\n") ==
        "[config] F:3: model.d_model / model.n_heads (the head dim, 3) must be even for rotary embeddings");
  CHECK(load_error("model:\n  n_kv_heads: 3\n") ==
        "[config] F:2: model.n_heads (4) must be a multiple of model.n_kv_heads (3)");
  CHECK(load_error("model:\n  dense_layers: [0, 4]\n") ==
        "[config] F:2: model.dense_layers entry 4 is out of range for model.n_layers (4)");
  CHECK(
      load_error("router:\n  threshold_lr: 2\n") ==
      "[config] F:2: router.threshold_lr (2) must be in [0, 1] with router.threshold_update quantile (it is "
      "an EMA rate)");
  CHECK_NOTHROW(sra::load_config(yaml_file("router:\n  threshold_lr: 2\n  threshold_update: ratio\n")));
  CHECK(load_error("data:\n  seq_len: 512\n") ==
        "[config] F:2: data.seq_len (512) must be <= model.max_seq_len (256)");
  CHECK(load_error("model:\n  vocab_size: 100\n") ==
        "[config] F:2: model.vocab_size (100) must be >= 256 for byte tokens (data.tokenizer is empty)");
  CHECK_NOTHROW(sra::load_config(yaml_file("model:\n  vocab_size: 100\ndata:\n  tokenizer: sp.model\n")));
  CHECK(load_error("data:\n  dataset: gsm8k\n") ==
        "[config] F:2: data.path must be set for data.dataset gsm8k (only synthetic needs none)");
  CHECK(load_error("data:\n  synthetic:\n    min_hops: 7\n") ==
        "[config] F:3: data.synthetic.min_hops (7) must be <= data.synthetic.max_hops (6)");
  CHECK(load_error("data:\n  synthetic: {min_distractors: 5, max_distractors: 4}\n") ==
        "[config] F:2: data.synthetic.min_distractors (5) must be <= data.synthetic.max_distractors (4)");
  CHECK(load_error("train:\n  steps: 50\n") ==
        "[config] F:2: schedule.warmup_steps (100) must be <= train.steps (50)");
  CHECK(load_error("precision: bf16\n") ==
        "[config] F:1: precision bf16 needs device cuda (the CPU kernels compute in f32)");
  CHECK(load_error("distributed:\n  backend: nccl\n") ==
        "[config] F:2: distributed.backend nccl needs device cuda");
  // all keys involved at their defaults: the file alone; set by an override: the override
  CHECK(load_error(kOneKey, {"model.n_heads=3"}) ==
        "[config] --set model.n_heads=3: model.d_model (256) must be a "
        "multiple of model.n_heads (3)");
  CHECK(load_error("model:\n  n_heads: 8\n", {"model.d_model=100"}) ==
        "[config] --set model.d_model=100: model.d_model (100) must be a multiple of model.n_heads (8)");
  // validate_config checks programmatic configs the same way (without locations)
  RunConfig c;
  c.model.d_model = -1;
  CHECK(error_of([&] { sra::validate_config(c); }) == "[config] model.d_model: must be > 0, got -1");
  c = RunConfig{};
  c.model.attention = "sparse";
  CHECK(error_of([&] { sra::validate_config(c); }) ==
        "[config] model.attention: must be one of dense, sra, got 'sparse'");
  c = RunConfig{};
  c.model.n_kv_heads = 3;
  CHECK(error_of([&] { sra::validate_config(c); }) ==
        "[config] model.n_heads (4) must be a multiple of model.n_kv_heads (3)");
}

TEST_CASE("config: device is cpu, cuda or cuda:N; run_device checks the build and the GPUs present") {
  for (const char* ok : {"cpu", "cuda", "cuda:0", "cuda:1", "cuda:15", "cuda:999"}) {
    INFO(ok);
    RunConfig c = sra::load_config(yaml_file(std::string("device: ") + ok + "\n"));
    CHECK(c.device == ok);
    CHECK(sra::load_config_string(sra::dump_resolved_yaml(c), "dump") == c);  // cuda:N is plain YAML
  }
  for (const char* bad :
       {"gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1000", "cuda:1:2", "cpu:0", " cuda"}) {
    INFO(bad);
    CHECK(sra::device_value_error(bad) ==
          std::string("must be cpu, cuda or cuda:N (N = a GPU index), got '") + bad + "'");
  }
  CHECK(load_error("train:\n  steps: 1000\ndevice: gpu\n") ==
        "[config] F:3: device: must be cpu, cuda or cuda:N (N = a GPU index), got 'gpu'");
  CHECK(load_error(kOneKey, {"device=cuda:x"}) ==
        "[config] --set device=cuda:x: device: must be cpu, cuda or cuda:N (N = a GPU index), got 'cuda:x'");
  CHECK(load_error("device: [cuda]\n") ==
        "[config] F:1: device: expected one of cpu, cuda, cuda:N, got a list");
  // cross-field checks read any CUDA device
  CHECK_NOTHROW(sra::load_config(yaml_file("precision: bf16\ndevice: cuda:1\n")));
  CHECK(load_error("precision: bf16\ndevice: cpu\n") ==
        "[config] F:2: precision bf16 needs device cuda (the CPU kernels compute in f32)");
  RunConfig c;
  c.device = "tpu";
  CHECK(error_of([&] { sra::validate_config(c); }) ==
        "[config] device: must be cpu, cuda or cuda:N (N = a GPU index), got 'tpu'");
  // run_device: the Device, or an error naming the key, never a crash
  CHECK(error_of([&] { sra::run_device(c); }) ==
        "[config] device: must be cpu, cuda or cuda:N (N = a GPU index), got 'tpu'");
  c.device = "cpu";
  CHECK(sra::run_device(c) == sra::Device::cpu());
  c.device = "cuda:999";
  const std::string e = error_of([&] { sra::run_device(c); });
  if (!sra::cuda::built_with_cuda()) {
    CHECK(e ==
          "[config] device cuda:999: SRA was built without CUDA (configure with -DSRA_CUDA=ON, or use "
          "device cpu)");
  } else if (sra::cuda::device_count() == 0) {
    CHECK(e ==
          "[config] device cuda:999: no CUDA device is visible (see nvidia-smi and CUDA_VISIBLE_DEVICES, "
          "or use device cpu)");
  } else {
    CHECK(e.find("[config] device cuda:999: only ") == 0);
    c.device = "cuda";
    CHECK(sra::run_device(c) == sra::Device::cuda(0));
  }
}

TEST_CASE("config: malformed YAML and missing files") {
  std::string e = load_error("model:\n  d_model: 512\n  n_heads: [1, 2\n");
  CHECK(e.rfind("[config] F:", 0) == 0);
  CHECK(e.find("invalid YAML: ") != std::string::npos);
  CHECK(e.find("(column ") != std::string::npos);
  e = load_error("model:\n  d_model: 512\n n_heads: 8\n");
  CHECK(e.rfind("[config] F:3: invalid YAML: ", 0) == 0);
  CHECK(error_of([] { sra::load_config("/nonexistent/run.yaml"); }) ==
        "[config] config file '/nonexistent/run.yaml' does not exist");
  std::string dir = temp_dir("config_dir").string();
  CHECK(error_of([&] { sra::load_config(dir); }) ==
        "[config] config file '" + dir + "' is not a regular file");
}

TEST_CASE("config: an empty or comment-only file is refused, naming the file") {
  const std::string expected =
      "[config] config file 'F' is empty (only whitespace or comments): a run would silently take every "
      "default; write the keys to set (configs/reference.yaml lists them all)";
  for (const char* text : {"", "\n  \n", "# a comment\n   # another\n", "---\n# only a comment\n...\n"}) {
    INFO("text: '" << text << "'");
    CHECK(load_error(text) == expected);
    CHECK(load_error(text, {"model.d_model=64"}) == expected);  // overrides do not make the file say anything
  }
  // one key is enough, and a section with no keys is a deliberate "keep the defaults"
  CHECK(sra::load_config(yaml_file("# tiny\nmodel:\n  d_model: 64\n")).model.d_model == 64);
  CHECK_NOTHROW(sra::load_config(yaml_file("router:\n")));
}

TEST_CASE("config: --set overrides apply with the same checks") {
  std::string path = yaml_file("model:\n  d_model: 512\n  n_heads: 8\n");
  std::map<std::string, std::string> origins;
  RunConfig c = sra::load_config(path,
                                 {"model.d_model=768", "model.n_heads=12", "model.dense_layers=[0, 1]",
                                  "data.path=", "data.tokenizer=sp.model", "optimizer.lr=1e-3",
                                  "precision=f32", "model.tie_embeddings=false", "data.synthetic.max_hops=7"},
                                 &origins);
  CHECK(c.model.d_model == 768);
  CHECK(c.model.n_heads == 12);
  CHECK(c.model.dense_layers == std::vector<int64_t>{0, 1});
  CHECK(c.data.path == "");
  CHECK(c.data.tokenizer == "sp.model");
  CHECK(c.optimizer.lr == 1e-3);
  CHECK(c.model.tie_embeddings == false);
  CHECK(c.data.synthetic.max_hops == 7);
  CHECK(origins["model.d_model"] == "--set model.d_model=768");
  // later overrides win
  CHECK(sra::load_config(path, {"model.d_model=256", "model.d_model=1024"}).model.d_model == 1024);

  CHECK(load_error(kOneKey, {"model.d_modle=512"}) ==
        "[config] --set model.d_modle=512: unknown key 'model.d_modle' (did you mean 'model.d_model'?)");
  CHECK(load_error(kOneKey, {"model.d_model=abc"}) ==
        "[config] --set model.d_model=abc: model.d_model: expected an "
        "integer, got 'abc'");
  CHECK(load_error(kOneKey, {"model.d_model=-1"}) ==
        "[config] --set model.d_model=-1: model.d_model: must be > 0, got -1");
  CHECK(load_error(kOneKey, {"model.d_model="}) ==
        "[config] --set model.d_model=: model.d_model: expected an integer, got an empty value");
  CHECK(load_error(kOneKey, {"model.attention=flash"}) ==
        "[config] --set model.attention=flash: model.attention: must be one of dense, sra, got 'flash'");
  CHECK(load_error(kOneKey, {"model.d_model"}) ==
        "[config] --set model.d_model: expected KEY=VALUE, e.g. model.d_model=512");
  CHECK(load_error(kOneKey, {"=3"}) == "[config] --set =3: expected KEY=VALUE, e.g. model.d_model=512");
  CHECK(load_error(kOneKey, {"model=3"}) ==
        "[config] --set model=3: 'model' is a section, not a key (set one of its keys)");
  std::string e = load_error(kOneKey, {"model.dense_layers=[0, 1"});
  CHECK(e.rfind("[config] --set model.dense_layers=[0, 1: invalid YAML value: ", 0) == 0);

  // apply_override on a config in memory
  RunConfig d;
  sra::apply_override(d, "train.steps=7");
  CHECK(d.train.steps == 7);
  CHECK(error_of([&] { sra::apply_override(d, "train.stepz=7"); }) ==
        "[config] --set train.stepz=7: unknown key 'train.stepz' (did you mean 'train.steps'?)");
  CHECK(d.train.steps == 7);
}

TEST_CASE("config: dump_resolved_yaml round-trips through load_config_string") {
  RunConfig c;
  CHECK(sra::load_config_string(sra::dump_resolved_yaml(c), "dump") == c);
  c.model.d_model = 768;
  c.model.n_heads = 12;
  c.model.n_kv_heads = 4;
  c.model.attention = "sra";
  c.model.dense_layers = {};
  c.model.rope_theta = 123456.789;
  c.model.norm_eps = 1e-6;
  c.model.init_std = 0.1 + 0.2;  // not exactly representable: needs the shortest round-trip text
  c.model.tie_embeddings = false;
  c.router.target_ratio = 1.0 / 3.0;
  c.router.init_threshold = -2.5;
  c.data.dataset = "text";
  c.data.path = "dir with \"quotes\"\\and\ttabs\nand lines: # not a comment";
  c.data.tokenizer = "true";  // a string that looks like a bool
  c.data.synthetic.context_chars = 16000;
  c.optimizer.lr = 6e-4;
  c.train.steps = 123456789012;
  c.precision = "bf16";
  c.device = "cuda";
  c.distributed.backend = "nccl";
  c.distributed.timeout_s = 60;
  c.logging.metrics_file = "sub dir/m: x.jsonl";  // (empty strings: the defaults above)
  c.logging.progress = "off";
  CHECK_NOTHROW(sra::validate_config(c));
  std::string text = sra::dump_resolved_yaml(c);
  RunConfig back = sra::load_config_string(text, "dump");
  CHECK(back == c);
  CHECK(back.data.path == c.data.path);
  CHECK(back.model.init_std == c.model.init_std);
  CHECK(text.find("\n  lr: 6.0e-04\n") != std::string::npos);  // floats keep a dot for YAML 1.1 readers
  CHECK(text.find("\n  rope_theta: 123456.789\n") != std::string::npos);
  CHECK(text.find("\n  steps: 123456789012\n") != std::string::npos);
  // every schema key appears once
  std::map<std::string, std::string> origins;
  sra::load_config_string(text, "dump", {}, &origins);
  CHECK(origins.size() == sra::config_schema().size());
  // write_resolved_config writes the same text, creating the directory
  fs::path out = temp_dir("config_out") / "run" / "config.yaml";
  sra::write_resolved_config(c, out.string());
  CHECK(slurp(out) == text);
  CHECK(!fs::exists(out.string() + ".tmp"));
  CHECK(sra::load_config(out.string()) == c);
}

TEST_CASE("config reference: configs/reference.yaml lists every key with its default") {
  const std::string path = kConfigsDir + "/reference.yaml";
  if (const char* regen = std::getenv("SRA_REGEN_REFERENCE"); regen && std::string(regen) == "1")
    write_text(path, sra::reference_yaml());
  std::map<std::string, std::string> origins;
  RunConfig c = sra::load_config(path, {}, &origins);
  CHECK(c == RunConfig{});
  std::set<std::string> in_file, in_schema;
  for (const auto& [key, where] : origins) in_file.insert(key);
  for (const sra::ConfigKey& k : sra::config_schema()) in_schema.insert(k.key);
  CHECK(in_file == in_schema);
  // and it is exactly the generated text (so docs and ranges stay in sync too)
  CHECK_MESSAGE(
      slurp(path) == sra::reference_yaml(),
      "configs/reference.yaml is stale: SRA_REGEN_REFERENCE=1 ./build/sra_tests -tc='config reference*'");
}

TEST_CASE("config: every file in configs/ loads, and the shipped runs have the promised shapes") {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(kConfigsDir)) {
    if (entry.path().extension() != ".yaml") continue;
    CAPTURE(entry.path().string());
    CHECK_NOTHROW(sra::load_config(entry.path().string()));
    ++n;
  }
  CHECK(n >= 7);
  for (const char* variant : {"", "-dense"}) {
    CAPTURE(variant);
    std::string v = variant;
    RunConfig tiny = sra::load_config(kConfigsDir + "/tiny-cpu" + v + ".yaml");
    CHECK(tiny.device == "cpu");
    CHECK(tiny.precision == "f32");
    CHECK(tiny.model.vocab_size == 256);
    RunConfig small = sra::load_config(kConfigsDir + "/small-135m" + v + ".yaml");
    CHECK(small.model.d_model == 768);
    CHECK(small.model.n_layers == 12);
    CHECK(small.model.n_heads == 12);
    CHECK(small.model.max_seq_len == 1024);
    CHECK(small.data.seq_len == 1024);
    CHECK(small.model.vocab_size == 32768);
    RunConfig lng = sra::load_config(kConfigsDir + "/long-16k" + v + ".yaml");
    CHECK(lng.model.max_seq_len == 16384);
    CHECK(lng.data.seq_len == 16384);
    std::string kind = v.empty() ? "sra" : "dense";
    CHECK(tiny.model.attention == kind);
    CHECK(small.model.attention == kind);
    CHECK(lng.model.attention == kind);
    // the dense variant differs from its SRA config only in model.attention
    RunConfig sra_small = sra::load_config(kConfigsDir + "/small-135m.yaml");
    sra_small.model.attention = small.model.attention;
    CHECK(sra_small == small);
  }
}
