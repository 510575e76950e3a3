#include "tools/cli/generate_run.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>

#include "data/tokenizer.h"
#include "model/flops.h"
#include "model/selection_view.h"
#include "run/activity.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "run/model_io.h"

namespace sra {

namespace {

// The length of `s` without a trailing U+FFFD (an incomplete UTF-8 character decoded so far).
size_t complete_prefix(const std::string& s) {
  size_t n = s.size();
  while (n >= 3 && s.compare(n - 3, 3, "\xEF\xBF\xBD") == 0) n -= 3;
  return n;
}

}  // namespace

int64_t context_budget(int64_t prompt_tokens, int64_t max_new_tokens, int64_t max_seq_len,
                       std::ostream& log) {
  if (prompt_tokens >= max_seq_len)
    throw CLI::ValidationError("--prompt", "the prompt is " + std::to_string(prompt_tokens) +
                                               " tokens, which leaves no room for an answer in the model's "
                                               "context (model.max_seq_len " +
                                               std::to_string(max_seq_len) + ")");
  const int64_t room = max_seq_len - prompt_tokens;
  if (max_new_tokens <= room) return max_new_tokens;
  log << "warning: --max-new-tokens " << max_new_tokens << " capped to " << room << ": the prompt ("
      << prompt_tokens << " tokens) and the answer must fit the model's context (model.max_seq_len "
      << max_seq_len << ")\n";
  return room;
}

int run_generate(const GenerateRunOptions& opt, std::ostream& out, std::ostream& log) {
  SRA_CHECK(opt.checkpoint.empty() != opt.config.empty(),
            "[generate] give exactly one of --checkpoint or --config");
  SRA_CHECK(!opt.prompt.empty(), "[generate] the prompt is empty");
  if (!opt.html.empty()) {  // before any work: a page that cannot be written fails at once
    const std::filesystem::path dir = std::filesystem::absolute(opt.html).parent_path();
    if (!std::filesystem::is_directory(dir))
      throw CLI::ValidationError("--html", "the directory '" + dir.string() + "' does not exist");
  }
  if (!opt.device.empty()) parse_device_spec(opt.device);  // a bad --device fails before any loading
  const std::string& source = opt.checkpoint.empty() ? opt.config : opt.checkpoint;
  std::optional<ActivityScope> stage;
  stage.emplace("loading the model from " + source);
  LoadedModel lm;
  Tokenizer tok;
  if (opt.checkpoint.empty()) {
    lm = model_from_config(load_config(opt.config, opt.overrides));
    if (!lm.config.data.tokenizer.empty()) tok = load_data_tokenizer(lm.config.data.tokenizer);
  } else {  // the checkpoint's own tokenizer (embedded, else its path), hash checked
    const Checkpoint ck = load_checkpoint(opt.checkpoint);
    lm = model_from_checkpoint(ck, opt.checkpoint);
    tok = checkpoint_tokenizer(ck, opt.checkpoint, lm.config.data.tokenizer, "generate");
  }
  const std::string device = !opt.device.empty()      ? opt.device
                             : opt.checkpoint.empty() ? lm.config.device
                                                      : "cpu";
  lm.model->to(parse_device_spec(device));
  Transformer& m = *lm.model;
  stage.emplace("encoding the prompt");

  std::vector<int64_t> prompt;
  if (tok.loaded()) {
    prompt.push_back(tok.bos_id());
    for (int32_t id : tok.encode(opt.prompt)) prompt.push_back(id);
  } else {
    for (unsigned char c : opt.prompt) prompt.push_back(int64_t(c));
  }
  for (int64_t id : prompt)
    SRA_CHECK(id < m.config().vocab_size, "[generate] token id ", id, " >= the model's vocab_size ",
              m.config().vocab_size, " (a byte-level prompt needs vocab_size >= 256)");
  auto text_of = [&](const std::vector<int64_t>& ids) {
    if (tok.loaded()) return tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
    std::string s;
    for (int64_t id : ids) s += id < 256 ? char(id) : '?';
    return s;
  };
  GenerateConfig gc = opt.gen;
  gc.max_new_tokens = context_budget(int64_t(prompt.size()), gc.max_new_tokens, m.config().max_seq_len, log);
  if (tok.loaded() && gc.eos_id < 0) gc.eos_id = tok.eos_id();
  if (!gc.stop_strings.empty()) gc.decode = text_of;

  // streaming: print each new piece of the answer as soon as its text is complete
  const std::string prompt_text = text_of(prompt);
  std::vector<int64_t> so_far;
  std::string printed;
  if (opt.stream) {
    out << prompt_text << std::flush;
    gc.on_token = [&](size_t, int64_t token) {
      so_far.push_back(token);
      std::string text = text_of(so_far);
      const size_t n = complete_prefix(text);
      if (n > printed.size() && text.compare(0, printed.size(), printed) == 0) {
        out << text.substr(printed.size(), n - printed.size()) << std::flush;
        printed = text.substr(0, n);
      }
    };
  }
  stage.emplace("generating up to " + std::to_string(gc.max_new_tokens) + " tokens");
  SequenceResult r = generate(m, {prompt}, gc)[0];
  const std::string answer = text_of(r.ids);
  if (!opt.stream) {
    out << prompt_text << answer << "\n";
  } else {
    if (answer.compare(0, printed.size(), printed) == 0) out << answer.substr(printed.size());
    out << "\n";
  }
  if (!opt.show_selection && opt.html.empty()) return 0;

  // the audit trail: every fed token has its routers' decisions; the last generated token was never fed
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), r.ids.begin(), r.ids.end());
  std::vector<TokenView> views;
  size_t n_sra = 0, n_critical = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    TokenView v;
    v.text = tok.loaded() ? tok.decode({int32_t(all[i])}) : text_of({all[i]});
    v.position = int64_t(i);
    v.generated = i >= prompt.size();
    if (i < r.audit.size()) {
      v.critical = r.audit[i].critical;
      v.scores = r.audit[i].scores;
      n_sra = v.critical.size();
      n_critical += v.is_critical();
    }
    views.push_back(std::move(v));
  }
  // the same prefill + decode with every layer dense: the fed tokens, logits for the last prompt token
  // and for each decode step
  const int64_t fed = int64_t(r.audit.size()), logits_steps = int64_t(r.ids.size());
  const int64_t head = dense_sequence_macs(m.config(), 1, true).lm_head;
  MacCount dense = dense_sequence_macs(m.config(), fed, false);
  dense.lm_head += (logits_steps - 1) * head;
  double ours = double(r.prefill_macs.total() + r.decode_macs.total());
  char line[512];
  std::snprintf(line, sizeof line,
                "%zu tokens (%zu prompt + %zu generated, %s), %zu SRA layers; critical in any layer: %zu; "
                "KV cache %lld bytes; multiply-adds %.3g (dense model of the same shape: %.3g, %.2fx)",
                all.size(), prompt.size(), r.ids.size(), r.finish_reason.c_str(), n_sra, n_critical,
                (long long)r.cache_bytes, ours, double(dense.total()), double(dense.total()) / ours);
  if (opt.show_selection) {
    out << "\n" << render_selection_text(views, opt.colour) << "\n\n" << line << "\n";
  }
  if (!opt.html.empty()) {
    std::ofstream f(opt.html);
    SRA_CHECK(f, "[generate] cannot write ", opt.html);
    f << render_selection_html(
        views, "SRA selection: " + (opt.checkpoint.empty() ? opt.config : opt.checkpoint), line);
    SRA_CHECK(f.good(), "[generate] cannot write ", opt.html);
    out << "wrote " << opt.html << "\n";
  }
  return 0;
}

}  // namespace sra
