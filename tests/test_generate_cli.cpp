// sra generate's library side: a model saved with its resolved config loads back identically, and
// generation from the checkpoint equals generation from the config; the audit trail renders; --device
// (default: the --config's device) and its errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "cli_test_util.h"
#include "model/selection_view.h"
#include "run/model_io.h"
#include "tools/cli/generate_run.h"

using namespace sra;

TEST_CASE("generate: a checkpoint with its config rebuilds the model and generates the same text") {
  std::string dir =
      (std::filesystem::temp_directory_path() / ("sra_gen_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::vector<std::string> sets = {"model.d_model=64", "model.n_layers=3",
                                         "model.d_ff=128",   "router.init_threshold=-0.01",
                                         "model.window=8",   "model.sinks=2"};
  RunConfig cfg = load_config("configs/tiny-cpu.yaml", sets);
  LoadedModel a = model_from_config(cfg);
  std::string path = dir + "/ckpt-00000007.h5";
  save_checkpoint(model_checkpoint(cfg, *a.model, 7), path);
  LoadedModel b = load_model(path);
  CHECK(b.step == 7);
  CHECK(b.config == cfg);
  for (auto& [name, t] : a.model->named_parameters())
    CHECK(b.model->find(name).to_vector<float>() == t.to_vector<float>());

  GenerateRunOptions from_cfg;
  from_cfg.config = "configs/tiny-cpu.yaml";
  from_cfg.overrides = sets;
  from_cfg.prompt = "To be, or not to be, that is the question:";
  from_cfg.gen.max_new_tokens = 12;
  from_cfg.show_selection = true;
  GenerateRunOptions from_ckpt = from_cfg;
  from_ckpt.config.clear();
  from_ckpt.overrides.clear();
  from_ckpt.checkpoint = path;
  from_ckpt.html = dir + "/sel.html";
  std::ostringstream o1, o2;
  run_generate(from_cfg, o1, o1);
  run_generate(from_ckpt, o2, o2);
  std::string s1 = o1.str(), s2 = o2.str();
  CHECK(s2.substr(0, s1.size()) == s1);      // same text and audit; the second also reports the HTML file
  CHECK(s1.find("[") != std::string::npos);  // some critical tokens, in brackets
  CHECK(s1.find("critical in any layer") != std::string::npos);
  CHECK(std::filesystem::file_size(dir + "/sel.html") > 200);

  // a checkpoint without its config is refused with a clear message
  Checkpoint bare = model_checkpoint(cfg, *a.model, 1);
  bare.meta.erase("config");
  save_checkpoint(bare, dir + "/bare.h5");
  CHECK_THROWS_WITH_AS(
      load_model(dir + "/bare.h5"),
      ("[checkpoint] " + dir + "/bare.h5: no 'config' metadata (not written by sra train?)").c_str(), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("generate: the selection view marks critical tokens and escapes HTML") {
  std::vector<TokenView> v(3);
  v[0].text = std::string("a<");
  v[1].text = std::string("b");
  v[1].critical = {0, 1};
  v[1].scores = {0.1, 2.5};
  v[2].text = std::string("c");
  v[2].generated = true;
  CHECK(render_selection_text(v, false) == "a<[b]|c");
  CHECK(render_selection_text(v, true) == "a<\x1b[7mb\x1b[0m\x1b[2m|\x1b[0mc");
  std::string html = render_selection_html(v, "t", "s");
  CHECK(html.find("a&lt;") != std::string::npos);
  CHECK(html.find("SRA layer 1: critical, score 2.500") != std::string::npos);
}

TEST_CASE("generate: --device overrides the config's device; bad or unavailable devices are usage errors") {
  using sra::testing::error_line;
  using sra::testing::run_sra;
  const std::vector<std::string> base = {"generate",
                                         "--config",
                                         "configs/tiny-cpu.yaml",
                                         "--set",
                                         "model.d_model=32",
                                         "--set",
                                         "model.n_layers=2",
                                         "--set",
                                         "model.d_ff=64",
                                         "--prompt",
                                         "ab",
                                         "--max-new-tokens",
                                         "3"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> a = base;
    a.insert(a.end(), more.begin(), more.end());
    return run_sra(a);
  };
  sra::testing::Run r = with({"--device", "gpu"});
  CHECK(r.rc == 2);
  CHECK(error_line(r.err) ==
        "error: [config] device: must be cpu, cuda or cuda:N (N = a GPU index), got 'gpu'");
  r = with({"--checkpoint", "missing.h5"});  // --checkpoint excludes --config: a usage error
  CHECK(r.rc == 2);
  if (!cuda::available()) {
    r = with({"--set", "device=cuda"});  // the config's device is honoured ...
    CHECK(r.rc == 2);
    CHECK(error_line(r.err).rfind("error: [config] device cuda: ", 0) == 0);
    r = with({"--set", "device=cuda", "--device", "cpu"});  // ... unless --device says otherwise
    CHECK(r.rc == 0);
    CHECK(r.out.rfind("ab", 0) == 0);
  }
}
