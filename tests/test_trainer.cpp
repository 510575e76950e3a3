// Trainer: exact resume (one run of 6 steps vs 3 + resume to 6: bitwise equal final checkpoints and
// equal per-step losses), metrics file contents, config errors naming file and line, resume past a
// corrupt newest checkpoint, trainer checkpoints read by load_model, the byte-level text dataset (path
// relative to the data directory) and synthetic data through a sentencepiece tokenizer; the run log
// (run/run_log.h): metrics truncation on resume, fmt, the progress bar.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/tape.h"
#include "child_process.h"
#include "core/json.h"
#include "data_test_util.h"
#include "run/checkpoint.h"
#include "run/model_io.h"
#include "run/run_log.h"
#include "tools/cli/train_validation.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using sra::testing::read_metrics;

namespace {

struct TrainerTempDir {
  fs::path path;
  TrainerTempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("sra_trainer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TrainerTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

const char* kTinyConfig = R"(model:
  vocab_size: 256
  d_model: 32
  n_layers: 2
  n_heads: 2
  n_kv_heads: 2
  d_ff: 64
  max_seq_len: 64
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
router:
  hidden: 16
  temperature: 1.0
  temperature_final: 0.5
  budget_weight: 0.01
data:
  dataset: synthetic
  seq_len: 64
  synthetic:
    min_hops: 2
    max_hops: 3
    min_distractors: 1
    max_distractors: 2
optimizer:
  lr: 0.003
schedule:
  kind: cosine
  warmup_steps: 2
train:
  batch_size: 4
  grad_accum: 2
  steps: 6
  eval_every: 3
  eval_batches: 2
  checkpoint_every: 3
  keep_last: 3
logging:
  log_every: 1
)";

std::string write_file(const TrainerTempDir& d, const std::string& name, const std::string& text) {
  std::string p = d.file(name);
  std::ofstream(p) << text;
  return p;
}

// Every tensor (name, dtype, shape, bytes), the step and the metadata are equal.
void check_bitwise_equal(const sra::Checkpoint& a, const sra::Checkpoint& b) {
  CHECK(a.step == b.step);
  sra::testing::check_same_tensors(a, b);
  CHECK(a.meta == b.meta);
}

}  // namespace

TEST_CASE("trainer: resume is exact (6 steps == 3 steps + resume auto to 6)") {
  TrainerTempDir d;
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  std::ostringstream log_a, log_b1, log_b2;

  sra::TrainOptions a{cfg, {}, d.file("a"), "", "", -1};
  REQUIRE(sra::run_train(a, log_a) == 0);
  CHECK(fs::exists(d.file("a/config.yaml")));
  CHECK(sra::list_checkpoints(d.file("a")).size() == 2);
  // a refused run writes nothing, not even config.yaml
  std::ofstream(d.file("a/config.yaml"), std::ios::app) << "# edited\n";
  const std::string config_before = sra::testing::slurp(d.file("a/config.yaml"));
  sra::TrainOptions a2 = a;
  a2.overrides = {"optimizer.lr=0.001"};
  CHECK_THROWS_WITH_AS(sra::run_train(a2, log_a),
                       doctest::Contains("already holds a run (checkpoints, newest "), sra::Error);
  CHECK(sra::testing::slurp(d.file("a/config.yaml")) == config_before);

  sra::TrainOptions b{cfg, {}, d.file("b"), "auto", "", 3};
  REQUIRE(sra::run_train(b, log_b1) == 0);
  CHECK(log_b1.str().find("no checkpoint in") != std::string::npos);
  CHECK(sra::list_checkpoints(d.file("b")).size() == 1);
  CHECK(read_metrics(d.file("b")).size() == 3);
  b.max_steps = -1;
  REQUIRE(sra::run_train(b, log_b2) == 0);
  CHECK(log_b2.str().find("resumed from") != std::string::npos);

  sra::Checkpoint ca = sra::load_checkpoint(sra::checkpoint_path(d.file("a"), 6));
  sra::Checkpoint cb = sra::load_checkpoint(sra::checkpoint_path(d.file("b"), 6));
  check_bitwise_equal(ca, cb);
  CHECK(ca.find("optim/steps") != nullptr);
  CHECK(ca.meta.at("code_version") == sra::kCodeVersion);
  CHECK(ca.meta.at("tokenizer").empty());
  CHECK(sra::Json::parse(ca.meta.at("data_cursor")).contains("epoch"));
  CHECK(sra::Json::parse(ca.meta.at("rng")).contains("offset"));

  std::vector<sra::Json> ma = read_metrics(d.file("a")), mb = read_metrics(d.file("b"));
  REQUIRE(ma.size() == 6);
  REQUIRE(mb.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    INFO("step " << i + 1);
    CHECK(ma[i]["step"].as_int() == int64_t(i + 1));
    CHECK(mb[i]["step"].as_int() == int64_t(i + 1));
    CHECK(ma[i]["loss"].as_double() == mb[i]["loss"].as_double());
    CHECK(ma[i]["lr"].as_double() == mb[i]["lr"].as_double());
    CHECK(ma[i]["grad_norm"].as_double() == mb[i]["grad_norm"].as_double());
    CHECK(ma[i]["selected_ratio"].as_double() == mb[i]["selected_ratio"].as_double());
    CHECK(ma[i].contains("tokens_per_s"));
    CHECK(ma[i].contains("val_loss") == ((i + 1) % 3 == 0));
    if ((i + 1) % 3 == 0) CHECK(ma[i]["val_loss"].as_double() == mb[i]["val_loss"].as_double());
  }
  // The schedule: linear warmup over 2 steps, then cosine to 0.1 · lr.
  CHECK(ma[0]["lr"].as_double() == doctest::Approx(0.0015));
  CHECK(ma[1]["lr"].as_double() == doctest::Approx(0.003));
  CHECK(ma[5]["lr"].as_double() < ma[2]["lr"].as_double());
  // Training makes progress on the byte-level synthetic data.
  CHECK(ma[5]["loss"].as_double() < ma[0]["loss"].as_double());

  SUBCASE("resume auto skips a corrupt newest checkpoint and still reproduces the run") {
    std::string newest = sra::checkpoint_path(d.file("b"), 6);
    {
      std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(2000);
      f.put('\x5a');
    }
    std::ostringstream log_c;
    REQUIRE(sra::run_train(b, log_c) == 0);
    CHECK(log_c.str().find("warning: " + newest + " is corrupt (") != std::string::npos);
    CHECK(sra::list_corrupt_checkpoints(d.file("b")) == std::vector<std::string>{newest + ".corrupt"});
    CHECK(log_c.str().find("resumed from " + sra::checkpoint_path(d.file("b"), 3)) != std::string::npos);
    check_bitwise_equal(ca, sra::load_checkpoint(newest));
    CHECK(read_metrics(d.file("b")).size() == 6);
  }

  SUBCASE("load_model reads a trainer checkpoint") {
    sra::LoadedModel lm = sra::load_model(sra::checkpoint_path(d.file("a"), 6));
    CHECK(lm.step == 6);
    CHECK(lm.config.model.d_model == 32);
    sra::NamedTensors state = sra::module_state(*lm.model);
    for (const auto& [name, t] : state) {
      INFO(name);
      const sra::Tensor* saved = ca.find("model/" + name);
      REQUIRE(saved != nullptr);
      CHECK(t.to_vector<float>() == saved->to_vector<float>());
    }
    sra::NoGradGuard g;
    lm.model->eval();
    sra::Tensor logits =
        lm.model->forward(sra::Tensor::from_vector(std::vector<int64_t>{76, 101, 116, 32}, {1, 4}));
    CHECK(logits.shape() == sra::Shape{1, 4, 256});
  }

  SUBCASE("resume from an explicit path at the end only saves nothing new and keeps the metrics") {
    sra::TrainOptions c{cfg, {}, d.file("a"), sra::checkpoint_path(d.file("a"), 6), "", -1};
    std::ostringstream log_c;
    REQUIRE(sra::run_train(c, log_c) == 0);
    CHECK(read_metrics(d.file("a")).size() == 6);
    check_bitwise_equal(ca, sra::load_checkpoint(sra::checkpoint_path(d.file("a"), 6)));
  }
}

TEST_CASE("trainer: corrupt checkpoints never outrank good ones and no run is lost") {
  TrainerTempDir d;
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  const std::vector<std::string> every2 = {"train.checkpoint_every=2", "train.keep_last=3"};
  std::ostringstream log;
  sra::TrainOptions a{cfg, every2, d.file("a"), "", "", -1};
  REQUIRE(sra::run_train(a, log) == 0);
  REQUIRE(sra::list_checkpoints(d.file("a")).size() == 3);  // steps 2, 4, 6
  REQUIRE(read_metrics(d.file("a")).size() == 6);
  for (const std::string& p : sra::list_checkpoints(d.file("a"))) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1500);
    f.put('\x33');
  }

  // resume auto with every checkpoint corrupt: they are set aside, the metrics stay, and the run refuses
  // to start over without --fresh
  sra::TrainOptions r{cfg, {"train.keep_last=2"}, d.file("a"), "auto", "", -1};
  std::ostringstream log_r;
  CHECK_THROWS_WITH_AS(sra::run_train(r, log_r),
                       doctest::Contains(("no valid checkpoint in " + d.file("a") +
                                          " but it holds a run (3 corrupt checkpoints (*.corrupt); metrics ")
                                             .c_str()),
                       sra::Error);
  CHECK(sra::list_checkpoints(d.file("a")).empty());
  CHECK(sra::list_corrupt_checkpoints(d.file("a")).size() == 3);
  CHECK(log_r.str().find("is corrupt (file checksum mismatch") != std::string::npos);
  CHECK(read_metrics(d.file("a")).size() == 6);
  sra::TrainOptions plain{cfg, {}, d.file("a"), "", "", -1};
  CHECK_THROWS_WITH_AS(sra::run_train(plain, log_r), doctest::Contains("already holds a run (3 corrupt"),
                       sra::Error);

  // --fresh moves the earlier run (corrupt checkpoints and metrics) to previous-1 and starts at step 0
  sra::TrainOptions f{cfg, {"train.keep_last=2"}, d.file("a"), "", "", 2};
  f.fresh = true;
  std::ostringstream log_f;
  REQUIRE(sra::run_train(f, log_f) == 0);
  CHECK(log_f.str().find("moved 4 files of the earlier run to " + d.file("a/previous-1")) !=
        std::string::npos);
  CHECK(sra::list_checkpoints(d.file("a")) == std::vector<std::string>{sra::checkpoint_path(d.file("a"), 2)});
  CHECK(sra::list_corrupt_checkpoints(d.file("a/previous-1")).size() == 3);
  CHECK(read_metrics(d.file("a/previous-1")).size() == 6);
  CHECK(read_metrics(d.file("a")).size() == 2);
  sra::TrainOptions both = f;
  both.resume = "auto";
  CHECK_THROWS_WITH_AS(sra::run_train(both, log_f), "[train] --fresh and --resume exclude each other",
                       sra::Error);

  // resuming an older checkpoint by path sets the later ones aside (with a copy of the metrics), so
  // keep_last cannot rank them above the resumed run's own checkpoints
  sra::TrainOptions b{cfg, every2, d.file("b"), "", "", -1};
  REQUIRE(sra::run_train(b, log) == 0);
  sra::TrainOptions back{cfg,         {"train.checkpoint_every=2", "train.keep_last=2"},
                         d.file("b"), sra::checkpoint_path(d.file("b"), 2),
                         "",          4};
  std::ostringstream log_b;
  REQUIRE(sra::run_train(back, log_b) == 0);
  CHECK(sra::list_checkpoints(d.file("b")) ==
        std::vector<std::string>{sra::checkpoint_path(d.file("b"), 4), sra::checkpoint_path(d.file("b"), 2)});
  CHECK(sra::list_checkpoints(d.file("b/previous-1")).size() == 2);  // the old 4 and 6
  CHECK(read_metrics(d.file("b/previous-1")).size() == 6);
  CHECK(read_metrics(d.file("b")).size() == 4);
}

TEST_CASE("trainer: Ctrl-C finishes the step, saves a checkpoint that resumes, and exits 130") {
  TrainerTempDir d;
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  const std::string out = d.file("run"), log = d.file("train.log");
  const std::vector<std::string> args = {"train",
                                         "--config",
                                         cfg,
                                         "--out",
                                         out,
                                         "--set",
                                         "train.steps=100000",
                                         "--set",
                                         "train.checkpoint_every=0",
                                         "--set",
                                         "train.eval_every=0",
                                         "--set",
                                         "data.synthetic.train_problems=256"};
  pid_t pid = sra::testing::spawn_sra_until(args, log, "\nstep 2 ");
  ::kill(pid, SIGINT);
  CHECK(sra::testing::wait_exit(pid) == 130);
  const std::string text = sra::testing::slurp(log);
  INFO(text);
  std::vector<std::string> ck = sra::list_checkpoints(out);
  REQUIRE(ck.size() == 1);
  const int64_t step = sra::load_checkpoint(ck[0]).step;
  CHECK(step >= 2);
  CHECK(text.find("interrupted at step " + std::to_string(step) +
                  " of 100000; continue with --resume auto") != std::string::npos);
  CHECK(read_metrics(out).size() == size_t(step));  // every finished step is logged and saved

  std::string text2;
  CHECK(sra::testing::run_sra_child(sra::testing::resume_args(args, step + 1), d.file("resume.log"),
                                    &text2) == 0);
  CHECK(text2.find("resumed from " + ck[0] + " at step " + std::to_string(step)) != std::string::npos);
  CHECK(read_metrics(out).size() == size_t(step + 1));

  // a second Ctrl-C during a slow step exits at once: no checkpoint, no "interrupted" line
  const std::string out2 = d.file("run2"), log2 = d.file("train2.log");
  std::vector<std::string> slow = args;
  slow[4] = out2;
  for (const char* a :
       {"--set", "model.d_model=256", "--set", "model.d_ff=1024", "--set", "train.batch_size=64"})
    slow.push_back(a);
  pid = sra::testing::spawn_sra_until(slow, log2, "train: ");
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);
  CHECK(sra::testing::wait_exit(pid) == 130);
  CHECK(sra::testing::slurp(log2).find("interrupted at step") == std::string::npos);
}

TEST_CASE("trainer: config errors name the file and line") {
  TrainerTempDir d;
  std::string text = kTinyConfig;
  text.replace(text.find("d_model"), 7, "d_modle");
  std::string cfg = write_file(d, "bad.yaml", text);
  std::ostringstream log;
  sra::TrainOptions o{cfg, {}, d.file("out"), "", "", -1};
  CHECK_THROWS_WITH_AS(sra::run_train(o, log), doctest::Contains("bad.yaml:3: unknown key 'model.d_modle'"),
                       sra::Error);
  std::string good = write_file(d, "run.yaml", kTinyConfig);
  sra::TrainOptions o2{good, {"data.dataset=gsm8k", "data.path=x"}, d.file("out"), "", d.path.string(), -1};
  CHECK_THROWS_WITH_AS(sra::run_train(o2, log), doctest::Contains("[data] data.path 'x' does not exist"),
                       sra::Error);
  // the metrics file must stay inside the run directory
  for (const std::string& mf :
       {std::string("../x.jsonl"), std::string("/tmp/x.jsonl"), std::string("a/../../x")}) {
    sra::TrainOptions om{good, {"logging.metrics_file=" + mf}, d.file("out_m"), "", "", -1};
    CHECK_THROWS_WITH_AS(sra::run_train(om, log),
                         ("[config] --set logging.metrics_file=" + mf + ": logging.metrics_file '" + mf +
                          "' must be a file name relative to the run directory (no absolute path, no '..')")
                             .c_str(),
                         sra::Error);
  }
  CHECK_FALSE(fs::exists(d.file("out_m")));
  sra::TrainOptions o3{good, {}, "", "", "", -1};
  CHECK_THROWS_WITH_AS(sra::run_train(o3, log), "[train] no output directory given", sra::Error);
}

TEST_CASE("trainer: byte-level text dataset") {
  TrainerTempDir d;
  std::string corpus;
  for (int i = 0; i < 200; ++i)
    corpus += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + ".\n";
  write_file(d, "corpus.txt", corpus);
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  std::ostringstream log;
  // data.path is relative: found in the data directory given by --data-dir.
  sra::TrainOptions o{cfg,
                      {"data.dataset=text", "data.path=corpus.txt", "train.steps=2", "train.grad_accum=1"},
                      d.file("out"),
                      "",
                      d.path.string(),
                      -1};
  REQUIRE(sra::run_train(o, log) == 0);
  std::vector<sra::Json> m = read_metrics(d.file("out"));
  REQUIRE(m.size() == 2);
  CHECK(m[1]["step"].as_int() == 2);
  CHECK(std::isfinite(m[1]["loss"].as_double()));
  CHECK(sra::list_checkpoints(d.file("out")).size() == 1);
}

TEST_CASE("trainer: synthetic data through a sentencepiece tokenizer") {
  TrainerTempDir d;
  const std::string& spm = sra::testing::bpe_model_path();  // vocab 400
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  std::ostringstream log;
  sra::TrainOptions o{
      cfg, {"data.tokenizer=" + spm, "model.vocab_size=512", "train.steps=2"}, d.file("out"), "", "", -1};
  REQUIRE(sra::run_train(o, log) == 0);
  sra::Checkpoint c = sra::load_checkpoint(sra::checkpoint_path(d.file("out"), 2));
  CHECK(c.meta.at("tokenizer") == spm);
  CHECK(c.meta.at("tokenizer_hash") == sra::Tokenizer::load(spm).hash());
  CHECK(read_metrics(d.file("out")).size() == 2);
  // A model too small for the tokenizer's ids is refused.
  sra::TrainOptions small{cfg, {"data.tokenizer=" + spm, "model.vocab_size=256"}, d.file("out2"), "", "", -1};
  CHECK_THROWS_WITH_AS(sra::run_train(small, log), doctest::Contains("[train] tokenizer"), sra::Error);
}

TEST_CASE("trainer: checkpoints carry their tokenizer; generate and eval work from any directory") {
  TrainerTempDir d;
  fs::copy_file(sra::testing::bpe_model_path(), d.file("tok.model"));
  const sra::Tokenizer tok = sra::Tokenizer::load(d.file("tok.model"));
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  std::ostringstream log;
  sra::TrainOptions o{cfg,
                      {"data.tokenizer=" + d.file("tok.model"), "model.vocab_size=512", "train.steps=2"},
                      d.file("out"),
                      "",
                      "",
                      -1};
  REQUIRE(sra::run_train(o, log) == 0);
  const std::string ck = sra::checkpoint_path(d.file("out"), 2);
  sra::Checkpoint c = sra::load_checkpoint(ck);
  const sra::Tensor* bytes = c.find(sra::kTokenizerTensor);
  REQUIRE(bytes != nullptr);
  CHECK(bytes->dtype() == sra::DType::u8);
  CHECK(size_t(bytes->numel()) == fs::file_size(d.file("tok.model")));
  CHECK(c.meta.at("tokenizer_hash") == tok.hash());

  // the tokenizer file is gone and the commands run elsewhere: the embedded copy is used
  fs::rename(d.file("tok.model"), d.file("moved.model"));
  fs::create_directories(d.file("elsewhere"));
  std::string out;
  CHECK(sra::testing::run_sra_child(
            {"generate", "--checkpoint", ck, "--prompt", "Let a = 3.", "--max-new-tokens", "3"},
            d.file("gen.log"), &out, d.file("elsewhere")) == 0);
  INFO(out);
  CHECK(out.rfind("Let a = 3.", 0) == 0);
  CHECK(sra::testing::run_sra_child(
            {"eval", "--checkpoint", ck, "--dataset", "synthetic", "--limit", "2", "--max-new-tokens", "4"},
            d.file("eval.log"), &out, d.file("elsewhere")) == 0);
  CHECK(sra::checkpoint_tokenizer(c, ck, "", "eval").hash() == tok.hash());

  // embedded bytes that do not match tokenizer_hash are refused (generate checks as eval does)
  sra::Checkpoint bad = c;
  bad.meta["tokenizer_hash"] = "0123456789abcdef";
  sra::save_checkpoint(bad, d.file("bad.h5"));
  CHECK(sra::testing::run_sra_child({"generate", "--checkpoint", d.file("bad.h5"), "--prompt", "x"},
                                    d.file("bad.log"), &out) == 1);
  CHECK(out.find("error: [generate] " + d.file("bad.h5") + ": tokenizer '" + d.file("tok.model") +
                 "' (embedded) has hash " + tok.hash() +
                 ", but the checkpoint was trained with tokenizer hash 0123456789abcdef") !=
        std::string::npos);

  // an old checkpoint (path only) falls back to the path, hash checked
  sra::Checkpoint old = c;
  old.tensors.erase(std::remove_if(old.tensors.begin(), old.tensors.end(),
                                   [](const auto& nt) { return nt.first == sra::kTokenizerTensor; }),
                    old.tensors.end());
  CHECK(sra::testing::error_of([&] {
          sra::checkpoint_tokenizer(old, "old.h5", "", "generate");
        }).find("[generate] old.h5: cannot load its tokenizer: ") == 0);
  fs::rename(d.file("moved.model"), d.file("tok.model"));
  CHECK(sra::checkpoint_tokenizer(old, "old.h5", "", "generate").hash() == tok.hash());
  old.meta["tokenizer_hash"] = "0123456789abcdef";
  CHECK(sra::testing::error_of([&] { sra::checkpoint_tokenizer(old, "old.h5", "", "generate"); }) ==
        "[generate] old.h5: tokenizer '" + d.file("tok.model") + "' has hash " + tok.hash() +
            ", but the checkpoint was trained with tokenizer hash 0123456789abcdef");
}

TEST_CASE("trainer: train.eval_problems logs val-split task accuracy and selected ratio") {
  TrainerTempDir d;
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  sra::TrainOptions o{cfg,
                      {"model.max_seq_len=1024", "train.steps=2", "train.eval_every=2",
                       "train.eval_problems=3", "train.checkpoint_every=0"},
                      d.file("run"),
                      "",
                      "",
                      -1};
  o.task_validator = sra::cli::synthetic_task_validator;  // what `sra train` wires
  std::ostringstream log;
  REQUIRE(sra::run_train(o, log) == 0);
  std::vector<sra::Json> m = read_metrics(d.file("run"));
  REQUIRE(m.size() == 2);
  CHECK(m[0].find("val_accuracy") == nullptr);
  REQUIRE(m[1].find("val_accuracy") != nullptr);
  double acc = m[1]["val_accuracy"].as_double(), sel = m[1]["val_selected_ratio"].as_double();
  CHECK(acc >= 0.0);
  CHECK(acc <= 1.0);
  CHECK(sel >= 0.0);
  CHECK(sel <= 1.0);
  CHECK(log.str().find("val acc ") != std::string::npos);

  // Only synthetic data has val-split problems to answer.
  sra::TrainOptions t = o;
  t.out_dir = d.file("text");
  t.overrides.push_back("data.dataset=text");
  t.overrides.push_back("data.path=tinyshakespeare/input.txt");
  std::ostringstream log_t;
  CHECK_THROWS_WITH_AS(sra::run_train(t, log_t),
                       doctest::Contains("train.eval_problems needs data.dataset synthetic"), sra::Error);
}

TEST_CASE("run log: truncate_metrics keeps exactly the lines the resumed checkpoint covers") {
  TrainerTempDir d;
  const std::string path = d.file("metrics.jsonl");
  auto write = [&] {
    std::ofstream(path) << "{\"step\": 0, \"eval_accuracy\": 0.5}\n"
                        << "{\"step\": 1, \"loss\": 2.0}\n"
                        << "\n"
                        << "{\"step\": 2, \"loss\": 1.5}\n"
                        << "{\"loss\": 9}\n"  // no step: dropped
                        << "[3]\n"            // not an object: dropped
                        << "{\"step\": 3, \"loss\": 1.2}\n"
                        << "{\"step\": 4, \"lo";  // cut short by a crash
  };
  auto steps = [&] {
    std::vector<int64_t> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.push_back(sra::Json::parse(line)["step"].as_int());
    return out;
  };
  write();
  sra::truncate_metrics(path, 2, "train");
  CHECK(steps() == std::vector<int64_t>{0, 1, 2});
  write();
  sra::truncate_metrics(path, 0, "rl");  // a checkpoint at step 0 covers the step-0 evaluation
  CHECK(steps() == std::vector<int64_t>{0});
  write();
  sra::truncate_metrics(path, 10, "train");
  CHECK(steps() == std::vector<int64_t>{0, 1, 2, 3});
  write();
  sra::truncate_metrics(path, std::nullopt, "train");  // a fresh start
  CHECK(steps().empty());
  CHECK(fs::file_size(path) == 0);
  sra::truncate_metrics(d.file("new.jsonl"), 5, "rl");  // a missing file is created empty
  CHECK(fs::exists(d.file("new.jsonl")));
  CHECK_THROWS_WITH_AS(sra::truncate_metrics(d.file("no/such/dir/m.jsonl"), std::nullopt, "rl"),
                       doctest::Contains("[rl] cannot write "), sra::Error);

  sra::MetricsWriter w(path, "train");
  w.write(sra::Json::object({{"step", 1}}));
  w.write(sra::Json::object({{"step", 2}}));
  CHECK(steps() == std::vector<int64_t>{1, 2});  // flushed line by line
}

TEST_CASE("run log: fmt and the progress bar") {
  CHECK(sra::fmt("%.3f", 2.0 / 3.0) == "0.667");
  CHECK(sra::fmt("%.2e", 12345.0) == "1.23e+04");
  std::ostringstream off;
  sra::ProgressBar none(off, false, 10, 0, 10);
  none.draw(5, "loss 1");
  none.clear();
  CHECK(off.str().empty());
  std::ostringstream on;
  sra::ProgressBar bar(on, true, 8, 0, 8);
  bar.draw(2, "loss 1.0000");
  const std::string s = on.str();
  CHECK(s.rfind("\r\x1b[K2/8 [######..................] loss 1.0000  ETA ", 0) == 0);
  CHECK(s.back() == 's');
  bar.clear();
  CHECK(on.str().substr(s.size()) == "\r\x1b[K");
}

TEST_CASE("trainer: train.time_limit_s ends the run early with an evaluated checkpoint") {
  TrainerTempDir d;
  std::string cfg = write_file(d, "run.yaml", kTinyConfig);
  std::ostringstream log;
  // a limit the first step already uses up: the run ends there (of train.steps = 1000, a cap now)
  sra::TrainOptions a{
      cfg, {"train.steps=1000", "train.time_limit_s=1e-9", "train.checkpoint_every=0"}, d.file("a"), "", "",
      -1};
  REQUIRE(sra::run_train(a, log) == 0);
  CHECK(log.str().find("train: time limit 1e-09 s reached at step 1") != std::string::npos);
  CHECK(sra::list_checkpoints(d.file("a")) == std::vector<std::string>{sra::checkpoint_path(d.file("a"), 1)});
  const auto m = read_metrics(d.file("a"));
  REQUIRE(m.size() == 1);
  CHECK(m[0].contains("val_loss"));  // the last step is evaluated (eval_every > 0)
  // the schedule follows the clock: the first step (warmup) has lr 0.003 / 2 whatever the limit
  CHECK(m[0]["lr"].as_double() == doctest::Approx(0.0015));

  // a generous limit changes nothing but the schedule: the run reaches train.steps
  sra::TrainOptions b{cfg, {"train.time_limit_s=3600"}, d.file("b"), "", "", -1};
  std::ostringstream log_b;
  REQUIRE(sra::run_train(b, log_b) == 0);
  CHECK(log_b.str().find("time limit") == std::string::npos);
  const auto mb = read_metrics(d.file("b"));
  REQUIRE(mb.size() == 6);
  // cosine by elapsed fraction: a few milliseconds of 3600 s leave the lr at its peak after warmup
  CHECK(mb[5]["lr"].as_double() == doctest::Approx(0.003).epsilon(1e-3));
  CHECK_THROWS_WITH_AS(sra::load_config(cfg, {"train.time_limit_s=-1"}),
                       doctest::Contains("train.time_limit_s"), sra::Error);
}
