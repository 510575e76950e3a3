// Model-based evaluation (see evaluate.h): checkpoint + tokenizer loading, prompting, greedy batched
// generation, scoring, FLOP / latency accounting, the Markdown table and the output files.
#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include "core/check.h"
#include "data/data_dir.h"
#include "eval/answer_gsm8k.h"
#include "eval/answer_math.h"
#include "eval/compare.h"
#include "eval/shard.h"
#include "model/generate.h"
#include "run/activity.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "run/model_io.h"
#include "run/run_log.h"

namespace sra::eval {

namespace {

bool is_math(const std::string& dataset) {
  return dataset == "math" || dataset == "math500";
}

std::string format_double(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string mode_name(int64_t shots, bool cot) {
  if (shots == 0) return "zero-shot";
  return std::string(cot ? "cot" : "direct") + ", " + std::to_string(shots) + "-shot";
}

std::string default_label(const std::string& checkpoint, const std::string& attention, int64_t shots,
                          bool cot, double threshold_offset) {
  std::filesystem::path p(checkpoint);
  std::string name = p.stem().string();
  std::string parent = p.parent_path().filename().string();
  if (!parent.empty()) name = parent + "/" + name;
  std::string offset;
  if (threshold_offset != 0 && attention == "sra") {
    std::ostringstream os;
    os << (threshold_offset > 0 ? ", θ+" : ", θ") << threshold_offset;
    offset = os.str();
  }
  return name + " (" + attention + ", " + mode_name(shots, cot) + offset + ")";
}

// Adds `offset` to the threshold of every distinct SRA router (a shared router once).
void shift_thresholds(Transformer& m, double offset) {
  if (offset == 0) return;
  std::vector<Router*> done;
  for (Router* r : m.sra_routers()) {
    if (std::find(done.begin(), done.end(), r) != done.end()) continue;
    r->set_threshold(r->threshold() + offset);
    done.push_back(r);
  }
}

std::string safe_name(const std::string& label) {
  std::string s;
  for (char c : label) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    s += ok ? c : '_';
  }
  return s.empty() ? "model" : s;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  SRA_CHECK(f.good(), "[eval] cannot write '", path, "'");
  f << text;
  f.flush();
  SRA_CHECK(f.good(), "[eval] error writing '", path, "'");
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SRA_CHECK(!ec, "[eval] cannot create '", dir, "': ", ec.message());
}

int64_t default_max_new_tokens(const std::string& dataset, const Tokenizer& tok, const EvalTask& task) {
  if (dataset == "gsm8k") return 256;
  if (is_math(dataset)) return 512;
  int64_t longest = 0;
  for (const EvalProblem& p : task.problems) {
    int64_t n =
        tok.loaded() ? int64_t(tok.encode(" " + p.reasoning).size()) : int64_t(p.reasoning.size()) + 1;
    longest = std::max(longest, n);
  }
  return std::max<int64_t>(64, longest + 16);
}

// The other ranks' samples into r (eval/shard.h); the job's generation time is the slowest rank's.
void gather_samples(dist::Communicator& comm, const std::vector<size_t>& mine, EvalResult& r) {
  const std::vector<std::string> packs = comm.all_gather(pack_samples(r.samples, mine), "eval samples");
  for (int k = 0; k < comm.world_size(); ++k)
    if (k != comm.rank()) unpack_samples(packs[size_t(k)], r.samples);
  char times[64];
  std::snprintf(times, sizeof(times), "%.17g %.17g", r.seconds, r.prefill_seconds);
  r.seconds = r.prefill_seconds = 0;
  for (const std::string& t : comm.all_gather(times, "eval times")) {
    double s = 0, p = 0;
    std::sscanf(t.c_str(), "%lf %lf", &s, &p);
    r.seconds = std::max(r.seconds, s);
    r.prefill_seconds += p;
  }
  r.correct = r.correct_flexible = 0;
  for (const EvalSample& s : r.samples) {
    r.correct += s.score.correct;
    r.correct_flexible += s.score.correct_flexible;
  }
}

}  // namespace

// ---- scoring ------------------------------------------------------------------------------------
OutputScore score_output(const std::string& dataset, std::string_view output, std::string_view gold) {
  check_eval_dataset(dataset);
  OutputScore s;
  if (is_math(dataset)) {
    MathVerdict v = math_score(output, gold);
    s.correct = s.correct_flexible = v.correct;
    s.extracted = v.extracted;
    s.reason = v.reason;
    return s;
  }
  Gsm8kVerdict v = gsm8k_score(output, gold);
  s.correct = v.strict_correct;
  s.correct_flexible = v.flexible_correct;
  s.extracted = v.strict_extracted;
  s.extracted_flexible = v.flexible_extracted;
  return s;
}

// ---- model and tokens ---------------------------------------------------------------------------
EvalModel load_eval_model(const std::string& checkpoint) {
  Checkpoint ck = load_checkpoint(checkpoint);
  auto cit = ck.meta.find("config");
  SRA_CHECK(cit != ck.meta.end(), "[checkpoint] ", checkpoint,
            ": no 'config' metadata (not written by sra train?)");
  EvalModel em;
  em.checkpoint = checkpoint;
  em.config = load_config_string(cit->second, checkpoint + ":config");
  LoadedModel lm = model_from_config(em.config);
  load_module(*lm.model, ck);
  em.model = std::move(lm.model);
  em.step = ck.step;

  em.tokenizer = checkpoint_tokenizer(ck, checkpoint, em.config.data.tokenizer, "eval");
  const std::string& tok_path = em.tokenizer.path();
  if (!em.tokenizer.loaded()) {
    SRA_CHECK(em.model->config().vocab_size >= 256, "[eval] ", checkpoint,
              ": a byte-level model needs vocab_size >= 256, got ", em.model->config().vocab_size);
    return em;
  }
  SRA_CHECK(em.tokenizer.vocab_size() <= em.model->config().vocab_size, "[eval] ", checkpoint,
            ": tokenizer '", tok_path, "' has ", em.tokenizer.vocab_size(),
            " pieces, more than the model's vocab_size ", em.model->config().vocab_size);
  return em;
}

std::vector<int64_t> encode_prompt(const Tokenizer& tok, const std::string& text) {
  std::vector<int64_t> ids;
  if (tok.loaded()) {
    ids.push_back(tok.bos_id());
    for (int32_t id : tok.encode(text)) ids.push_back(id);
  } else {
    ids.push_back(0);
    for (unsigned char c : text) ids.push_back(int64_t(c));
  }
  return ids;
}

int64_t end_of_text_id(const Tokenizer& tok) {
  return tok.loaded() ? tok.eos_id() : 0;
}

std::string decode_answer(const Tokenizer& tok, const std::vector<int64_t>& ids) {
  const int64_t eot = end_of_text_id(tok);
  std::string s;
  if (tok.loaded()) {
    std::vector<int32_t> v;
    for (int64_t id : ids)
      if (id != eot && id < tok.vocab_size()) v.push_back(int32_t(id));
    return tok.decode(v);
  }
  for (int64_t id : ids)
    if (id != eot) s += id < 256 ? char(id) : '?';
  return s;
}

// ---- task -----------------------------------------------------------------------------------------
EvalTask make_eval_task(const EvalOptions& opt, const SyntheticOptions& synthetic) {
  check_eval_dataset(opt.dataset);
  SRA_CHECK(opt.shots >= 0, "[config] --shots must be >= 0, got ", opt.shots);
  EvalTask t;
  t.dataset = opt.dataset;
  std::string data_dir = opt.dataset == "synthetic" ? "" : resolve_data_dir(opt.data_dir);
  int64_t count = opt.limit >= 0 ? opt.limit : (opt.dataset == "synthetic" ? kSyntheticDefaultLimit : -1);
  t.problems = load_eval_problems(opt.dataset, "test", data_dir, 0, count, synthetic);
  t.exemplars = load_eval_problems(opt.dataset, "train", data_dir, 0, opt.shots, synthetic);
  SRA_CHECK(int64_t(t.exemplars.size()) == opt.shots, "[config] --shots ", opt.shots, ": the ", opt.dataset,
            " exemplar file has only ", t.exemplars.size(), " problems");
  t.format = make_prompt_format(opt.dataset, t.exemplars, opt.cot);
  return t;
}

// ---- prompt lengths -------------------------------------------------------------------------------
// The most exemplars (of the task's, in order) with which p's prompt leaves room for one answer token in
// max_seq_len (0 when even the zero-shot prompt does not); binary search, one encode per step.
int64_t shots_that_fit(const Tokenizer& tok, const EvalTask& task, const EvalProblem& p,
                       int64_t max_seq_len) {
  auto fits = [&](int64_t k) {
    std::vector<EvalProblem> ex(task.exemplars.begin(), task.exemplars.begin() + k);
    PromptFormat f = make_prompt_format(task.dataset, ex, task.format.cot);
    return int64_t(encode_prompt(tok, f.prompt(p)).size()) < max_seq_len;
  };
  int64_t lo = 0, hi = int64_t(task.exemplars.size());  // fits(lo) assumed; answer in [lo, hi]
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Few-shot prompts must leave room for an answer in the model's context: the longest one that does not
// is refused, naming the --shots that would fit it. `samples`: the task's problems, prompt_tokens set.
void check_few_shot_lengths(const Tokenizer& tok, const EvalTask& task,
                            const std::vector<EvalSample>& samples, int64_t max_seq_len) {
  if (task.format.shots == 0 || samples.empty()) return;
  size_t longest = 0;
  for (size_t i = 1; i < samples.size(); ++i)
    if (samples[i].prompt_tokens > samples[longest].prompt_tokens) longest = i;
  if (samples[longest].prompt_tokens < max_seq_len) return;
  const EvalProblem& p = task.problems[longest];
  const int64_t fit = shots_that_fit(tok, task, p, max_seq_len);
  throw Error("[config] --shots " + std::to_string(task.format.shots) + ": the prompt of problem " +
              std::to_string(p.index) + " is " + std::to_string(samples[longest].prompt_tokens) +
              " tokens, which leaves no room for an answer in the model's context (model.max_seq_len " +
              std::to_string(max_seq_len) + "); " +
              (fit > 0 ? "it fits with --shots " + std::to_string(fit) + " or fewer"
                       : std::string("only a zero-shot prompt (--shots 0) can fit")));
}

// ---- evaluation -----------------------------------------------------------------------------------
EvalResult evaluate(Transformer& m, const Tokenizer& tok, const EvalTask& task, int64_t max_new_tokens,
                    int64_t batch, std::ostream* log, dist::Communicator* comm) {
  using clock = std::chrono::steady_clock;
  SRA_CHECK(batch >= 1, "[config] --batch must be >= 1, got ", batch);
  SRA_CHECK(max_new_tokens >= 0, "[config] --max-new-tokens must be >= 0, got ", max_new_tokens);
  const TransformerConfig& c = m.config();
  SRA_CHECK(tok.loaded() ? tok.vocab_size() <= c.vocab_size : c.vocab_size >= 256,
            "[eval] the model's vocab_size ", c.vocab_size, " is too small for its tokenizer (",
            tok.loaded() ? std::to_string(tok.vocab_size()) + " pieces" : std::string("bytes need 256"), ")");
  EvalResult r;
  r.dataset = task.dataset;
  r.shots = task.format.shots;
  r.cot = task.format.cot;
  r.attention = c.attention;
  r.batch = batch;
  // a given answer length beyond the whole context would decode unboundedly past it: refused
  SRA_CHECK(max_new_tokens <= c.max_seq_len, "[config] --max-new-tokens ", max_new_tokens,
            " is more than the model's context (model.max_seq_len ", c.max_seq_len, ")");
  r.max_new_tokens = max_new_tokens > 0 ? max_new_tokens : default_max_new_tokens(task.dataset, tok, task);

  GenerateConfig g;
  g.max_new_tokens = r.max_new_tokens;
  g.eos_id = end_of_text_id(tok);
  g.stop_strings = task.format.stop_strings;
  g.decode = [&tok](const std::vector<int64_t>& ids) { return decode_answer(tok, ids); };
  g.batch = batch;

  // every prompt is encoded and its length checked before any generation
  const size_t N = task.problems.size();
  r.samples.resize(N);
  std::vector<std::vector<int64_t>> all_prompts(N);
  for (size_t i = 0; i < N; ++i) {
    EvalSample& s = r.samples[i];
    s.index = task.problems[i].index;
    s.gold = task.problems[i].gold;
    s.prompt = task.format.prompt(task.problems[i]);
    all_prompts[i] = encode_prompt(tok, s.prompt);
    s.prompt_tokens = int64_t(all_prompts[i].size());
    if (s.prompt_tokens + r.max_new_tokens > c.max_seq_len) ++r.prompts_over_max_seq_len;
  }
  check_few_shot_lengths(tok, task, r.samples, c.max_seq_len);
  if (log && r.prompts_over_max_seq_len > 0)
    *log << "[eval] warning: " << r.prompts_over_max_seq_len << " of " << N
         << " prompts + max_new_tokens exceed the model's max_seq_len " << c.max_seq_len
         << " (positions beyond those it was trained on)\n";
  const int world = comm ? comm->world_size() : 1, rank = comm ? comm->rank() : 0;
  std::vector<size_t> mine;  // the positions this rank generates: batch k goes to rank k mod world
  for (size_t first = 0; first < N; first += size_t(batch)) {
    const size_t n = std::min(N - first, size_t(batch));
    if (int64_t(first / size_t(batch)) % world != rank) continue;
    for (size_t j = 0; j < n; ++j) mine.push_back(first + j);
    std::vector<std::vector<int64_t>> prompts(std::make_move_iterator(all_prompts.begin() + long(first)),
                                              std::make_move_iterator(all_prompts.begin() + long(first + n)));
    ActivityScope activity("generating answers for problems " + std::to_string(first) + ".." +
                           std::to_string(first + n - 1) + " of " + std::to_string(N));
    auto t0 = clock::now();
    std::vector<SequenceResult> out = generate(m, prompts, g);
    r.seconds += std::chrono::duration<double>(clock::now() - t0).count();
    for (size_t j = 0; j < n; ++j) {
      EvalSample& s = r.samples[first + j];
      const SequenceResult& q = out[j];
      s.output = cut_at_stop(decode_answer(tok, q.ids), task.format.stop_strings);
      s.score = score_output(task.dataset, s.output, s.gold);
      s.answer_tokens = int64_t(q.ids.size());
      s.finish_reason = q.finish_reason;
      int64_t decisions = 0, critical = 0;
      for (const TokenAudit& a : q.audit) {
        decisions += int64_t(a.critical.size());
        for (uint8_t z : a.critical) critical += z;
      }
      s.selected_ratio = decisions == 0 ? 0.0 : double(critical) / double(decisions);
      s.flops = 2.0 * double((q.prefill_macs + q.decode_macs).total());
      s.attention_flops = 2.0 * double((q.prefill_macs + q.decode_macs).attention);
      s.latency_ms = q.prefill_ms + q.decode_ms;
      s.cache_bytes = q.cache_bytes;
      r.prefill_seconds += q.prefill_ms / 1000;
      r.correct += s.score.correct;
      r.correct_flexible += s.score.correct_flexible;
    }
    if (log) {
      const size_t done = mine.size();
      *log << "[eval] " << (world > 1 ? "rank " + std::to_string(rank) + ": " : "") << done << "/"
           << (world > 1 ? (N + size_t(world) - 1 - size_t(rank)) / size_t(world) : N)
           << " problems, accuracy " << format_double("%.3f", double(r.correct) / double(done)) << ", "
           << format_double("%.2f", double(done) / std::max(r.seconds, 1e-9)) << " problems/s\n";
      log->flush();
    }
  }
  if (world > 1) gather_samples(*comm, mine, r);
  r.n = int64_t(N);
  if (N > 0) {
    std::vector<double> lat;
    int64_t answer_tokens = 0, prompt_tokens = 0;
    for (const EvalSample& s : r.samples) {
      r.selected_ratio += s.selected_ratio / double(N);
      r.flops_per_query += s.flops / double(N);
      r.attention_flops_per_query += s.attention_flops / double(N);
      r.latency_mean_ms += s.latency_ms / double(N);
      r.cache_bytes_mean += double(s.cache_bytes) / double(N);
      lat.push_back(s.latency_ms);
      answer_tokens += s.answer_tokens;
      prompt_tokens += s.prompt_tokens;
    }
    std::sort(lat.begin(), lat.end());
    r.latency_p95_ms = lat[size_t(std::ceil(0.95 * double(N))) - 1];  // nearest rank
    r.prompt_tokens_mean = double(prompt_tokens) / double(N);
    r.answer_tokens_mean = double(answer_tokens) / double(N);
    if (r.prefill_seconds > 0) r.prefill_tokens_per_s = double(prompt_tokens) / r.prefill_seconds;
    if (r.seconds > 0) {
      r.tokens_per_s = double(answer_tokens) / r.seconds;
      r.items_per_s = double(N) / r.seconds;
    }
  }
  return r;
}

// ---- results ------------------------------------------------------------------------------------
Json EvalSample::to_json(const std::string& dataset) const {
  Json j = Json::object({{"index", index}, {"prompt", prompt}, {"output", output}});
  j.set("extracted", score.extracted ? Json(*score.extracted) : Json());
  j.set("gold", gold);
  j.set("correct", score.correct);
  if (is_math(dataset)) {
    j.set("reason", score.reason);
  } else {
    j.set("extracted_flexible", score.extracted_flexible);
    j.set("correct_flexible", score.correct_flexible);
  }
  j.set("prompt_tokens", prompt_tokens);
  j.set("answer_tokens", answer_tokens);
  j.set("finish_reason", finish_reason);
  j.set("selected_ratio", selected_ratio);
  j.set("flops", flops);
  j.set("attention_flops", attention_flops);
  j.set("latency_ms", latency_ms);
  j.set("cache_bytes", cache_bytes);
  return j;
}

std::optional<double> EvalResult::flops_relative() const {
  if (!baseline_flops || *baseline_flops <= 0) return std::nullopt;
  return flops_per_query / *baseline_flops;
}

std::optional<double> EvalResult::attention_flops_relative() const {
  if (!baseline_attention_flops || *baseline_attention_flops <= 0) return std::nullopt;
  return attention_flops_per_query / *baseline_attention_flops;
}

Json EvalResult::summary() const {
  Json j = Json::object({{"dataset", dataset}, {"label", label}, {"checkpoint", checkpoint}, {"step", step}});
  j.set("attention", attention);
  j.set("threshold_offset", threshold_offset);
  j.set("shots", shots);
  j.set("mode", shots == 0 ? "zero-shot" : cot ? "cot" : "direct");
  j.set("max_new_tokens", max_new_tokens);
  j.set("batch", batch);
  j.set("n", n);
  if (has_flexible()) {
    j.set("strict", Json::object({{"correct", correct}, {"accuracy", accuracy()}}));
    j.set("flexible", Json::object({{"correct", correct_flexible}, {"accuracy", accuracy_flexible()}}));
  } else {
    j.set("correct", correct);
    j.set("accuracy", accuracy());
  }
  j.set("selected_ratio", selected_ratio);
  j.set("flops_per_query", flops_per_query);
  std::optional<double> rel = flops_relative();
  j.set("flops_relative", rel ? Json(*rel) : Json());
  j.set("baseline", baseline_flops ? Json(baseline_label) : Json());
  j.set("baseline_flops_per_query", baseline_flops ? Json(*baseline_flops) : Json());
  j.set("attention_flops_per_query", attention_flops_per_query);
  std::optional<double> arel = attention_flops_relative();
  j.set("attention_flops_relative", arel ? Json(*arel) : Json());
  j.set("latency_ms", Json::object({{"mean", latency_mean_ms}, {"p95", latency_p95_ms}}));
  j.set("kv_cache_bytes", cache_bytes_mean);
  if (!calibration.is_null()) j.set("calibration", calibration);
  j.set("tokens_per_s", tokens_per_s);
  j.set("items_per_s", items_per_s);
  j.set("seconds", seconds);
  j.set("prefill_seconds", prefill_seconds);
  j.set("prefill_tokens_per_s", prefill_tokens_per_s);
  j.set("prompt_tokens_mean", prompt_tokens_mean);
  j.set("answer_tokens_mean", answer_tokens_mean);
  j.set("prompts_over_max_seq_len", prompts_over_max_seq_len);
  return j;
}

std::string markdown_table(const std::vector<EvalResult>& rows) {
  SRA_CHECK(!rows.empty(), "[eval] no results to tabulate");
  const std::string ds = dataset_display_name(rows[0].dataset);
  bool flexible = false;
  for (const EvalResult& r : rows) flexible = flexible || r.has_flexible();
  std::string s = "| Model | n | ";
  s.append(ds).append(" accuracy |");
  if (flexible) s.append(" ").append(ds).append(" accuracy (flexible) |");
  s += " Selected ratio | FLOPs per query | FLOPs per query (relative) | Attention FLOPs (relative) | "
       "Latency (ms) | Latency p95 (ms) | Tokens/s | Attention FLOPs per query | KV cache (KiB) |\n";
  s += flexible ? "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
                : "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const EvalResult& r : rows) {
    std::string label = r.label;
    for (char& ch : label)
      if (ch == '|') ch = '/';
    std::vector<std::string> cells = {label, std::to_string(r.n),
                                      format_double("%.1f%%", 100 * r.accuracy())};
    if (flexible)
      cells.push_back(r.has_flexible() ? format_double("%.1f%%", 100 * r.accuracy_flexible()) : "—");
    std::optional<double> rel = r.flops_relative();
    cells.push_back(format_double("%.3f", r.selected_ratio));
    cells.push_back(format_double("%.3g", r.flops_per_query));
    cells.push_back(rel ? format_double("%.2fx", *rel) : "—");
    std::optional<double> arel = r.attention_flops_relative();
    cells.push_back(arel ? format_double("%.2fx", *arel) : "—");
    cells.push_back(format_double("%.1f", r.latency_mean_ms));
    cells.push_back(format_double("%.1f", r.latency_p95_ms));
    cells.push_back(format_double("%.1f", r.tokens_per_s));
    cells.push_back(format_double("%.3g", r.attention_flops_per_query));
    cells.push_back(format_double("%.1f", r.cache_bytes_mean / 1024));
    s += "|";
    for (const std::string& cell : cells) s.append(" ").append(cell).append(" |");
    s += "\n";
  }
  return s;
}

void write_eval_result(const EvalResult& r, const std::string& dir) {
  make_dir(dir);
  std::string lines, line;
  for (const EvalSample& s : r.samples) {
    line.clear();
    s.to_json(r.dataset).dump_to(line);
    lines += line;
    lines += '\n';
  }
  write_text(dir + "/samples.jsonl", lines);
  write_text(dir + "/summary.json", r.summary().dump() + "\n");
  write_text(dir + "/summary.md", markdown_table({r}));
}

// ---- run ------------------------------------------------------------------------------------------
namespace {

// A row of --match-ratio: a label (--labels), else a 1-based row number; nullopt when neither.
std::optional<size_t> find_row(const EvalRunOptions& opt, const std::string& name, size_t rows) {
  for (size_t i = 0; i < opt.labels.size(); ++i)
    if (opt.labels[i] == name) return i;
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos && name.size() < 9) {
    const size_t k = size_t(std::stoul(name));
    if (k >= 1 && k <= rows) return k - 1;
  }
  return std::nullopt;
}

// --match-ratio ROW:SHIFTED → (ROW, SHIFTED) row indices; the first ':' that splits it into two rows.
std::optional<std::pair<size_t, size_t>> parse_match_ratio(const EvalRunOptions& opt, size_t rows) {
  if (opt.match_ratio.empty()) return std::nullopt;
  SRA_CHECK(rows >= 2, "[config] --match-ratio needs --compare with at least two checkpoints");
  SRA_CHECK(opt.calibration_problems >= 1, "[config] --calibration-problems must be >= 1, got ",
            opt.calibration_problems);
  for (size_t at = opt.match_ratio.find(':'); at != std::string::npos;
       at = opt.match_ratio.find(':', at + 1)) {
    auto a = find_row(opt, opt.match_ratio.substr(0, at), rows);
    auto b = find_row(opt, opt.match_ratio.substr(at + 1), rows);
    if (!a || !b) continue;
    SRA_CHECK(*a != *b, "[config] --match-ratio '", opt.match_ratio, "': ROW and SHIFTED are the same row");
    return std::make_pair(*a, *b);
  }
  throw Error("[config] --match-ratio '" + opt.match_ratio +
              "': expected ROW:SHIFTED, each a --labels label or a row number 1.." + std::to_string(rows));
}

// The task's format and exemplars on other problems: synthetic val split, else the train file's first N.
EvalTask calibration_task(const EvalOptions& eo, const EvalTask& task, const SyntheticOptions& synthetic,
                          int64_t n) {
  EvalTask c = task;
  const bool syn = eo.dataset == "synthetic";
  c.problems = load_eval_problems(eo.dataset, syn ? "val" : "train", syn ? "" : resolve_data_dir(eo.data_dir),
                                  0, n, synthetic);
  return c;
}

// What every rank of a multi-rank evaluation must agree on (dist::check_same_config).
std::string options_text(const EvalRunOptions& opt) {
  std::ostringstream s;
  const EvalOptions& e = opt.eval;
  s << e.dataset << '|' << e.limit << '|' << e.shots << '|' << e.cot << '|' << e.max_new_tokens << '|'
    << e.batch << '|' << opt.checkpoint << '|' << opt.baseline << '|' << opt.out_dir;
  for (const auto* v : {&opt.compare, &opt.labels, &opt.modes})
    for (const std::string& x : *v) s << '|' << x;
  for (double d : opt.threshold_offsets) s << '|' << d;
  s << '|' << opt.match_ratio << '|' << opt.calibration_problems;
  return s.str();
}

}  // namespace

std::vector<EvalResult> run_eval(const EvalRunOptions& opt, std::ostream& out_in, std::ostream& log_in) {
  const EvalOptions& eo = opt.eval;
  SRA_CHECK(opt.checkpoint.empty() != opt.compare.empty(),
            "[config] give exactly one of --checkpoint or --compare");
  SRA_CHECK(
      eo.dataset == "gsm8k" || eo.dataset == "math" || eo.dataset == "math500" || eo.dataset == "synthetic",
      "[config] --dataset must be gsm8k, math, math500 or synthetic, got '", eo.dataset, "'");
  SRA_CHECK(eo.shots >= 0, "[config] --shots must be >= 0, got ", eo.shots);
  SRA_CHECK(eo.batch >= 1, "[config] --batch must be >= 1, got ", eo.batch);
  SRA_CHECK(eo.max_new_tokens >= 0, "[config] --max-new-tokens must be >= 0, got ", eo.max_new_tokens);
  const std::vector<std::string> paths =
      opt.compare.empty() ? std::vector<std::string>{opt.checkpoint} : opt.compare;
  SRA_CHECK(opt.labels.empty() || opt.labels.size() == paths.size(), "[config] --labels has ",
            opt.labels.size(), " labels for ", paths.size(), " checkpoints");
  SRA_CHECK(opt.modes.empty() || opt.modes.size() == paths.size(), "[config] --modes has ", opt.modes.size(),
            " modes for ", paths.size(), " checkpoints");
  for (const std::string& mode : opt.modes)
    SRA_CHECK(mode == "cot" || mode == "direct", "[config] --modes entries must be cot or direct, got '",
              mode, "'");
  for (const std::string& p : paths) SRA_CHECK(!p.empty(), "[config] empty checkpoint path");
  SRA_CHECK(opt.threshold_offsets.size() <= 1 || opt.threshold_offsets.size() == paths.size(),
            "[config] --threshold-offset has ", opt.threshold_offsets.size(), " values for ", paths.size(),
            " checkpoints (give one, or one per checkpoint)");
  for (double d : opt.threshold_offsets)
    SRA_CHECK(std::isfinite(d), "[config] --threshold-offset values must be finite, got ", d);

  // before any loading: a bad spec fails at once; "cuda" in a multi-rank job: cuda:LOCAL_RANK
  const dist::DistEnv env = dist::dist_env();
  const Device device = env.distributed()
                            ? (parse_device_spec(opt.device), dist::rank_device(opt.device, env))
                            : parse_device_spec(opt.device);
  // a launcher's job: the problems split across ranks, rank 0 writes (eval/shard.h)
  std::unique_ptr<dist::DistContext> job =
      dist::join_job("tcp", device, opt.dist_timeout_s, options_text(opt));
  dist::Communicator* comm = job ? job->comm.get() : nullptr;
  const bool root = !job || job->is_root();
  std::ostream& out = root ? out_in : null_stream();
  std::ostream& log = root ? log_in : null_stream();
  if (!device.is_cpu()) log << "[eval] running on " << device.str() << "\n";

  // The offset of every model when one value is given (the --baseline's in any case).
  const double common_offset = opt.threshold_offsets.size() == 1 ? opt.threshold_offsets[0] : 0.0;
  const std::optional<std::pair<size_t, size_t>> match = parse_match_ratio(opt, paths.size());

  // Every row (and the baseline) runs on the same problems: those of the first checkpoint's task.
  std::optional<EvalTask> task;
  SyntheticOptions task_synthetic;
  auto task_for = [&](size_t i, EvalTask t) {  // row i's prompt format (--modes)
    const bool cot = opt.modes.empty() ? eo.cot : opt.modes[i] == "cot";
    if (cot != t.format.cot) t.format = make_prompt_format(t.dataset, t.exemplars, cot);
    return t;
  };
  std::vector<EvalResult> rows;
  std::vector<std::string> used;
  for (size_t i = 0; i < paths.size(); ++i) {
    log << "[eval] loading " << paths[i] << "\n";
    EvalModel em = load_eval_model(paths[i]);
    // every exemplar takes at least one token: refuse before building any
    SRA_CHECK(eo.shots < em.model->config().max_seq_len, "[config] --shots ", eo.shots,
              " cannot fit the model's context (model.max_seq_len ", em.model->config().max_seq_len, " of ",
              paths[i], "): every exemplar takes at least one token");
    if (!task) {
      ActivityScope activity("loading the " + eo.dataset + " problems and " + std::to_string(eo.shots) +
                             " exemplars");
      task_synthetic = to_synthetic_options(em.config);
      task = make_eval_task(eo, task_synthetic);
      if (em.tokenizer.loaded()) {  // a tokenizer that loses characters of the prompts: say so
        std::vector<std::string> texts;
        for (size_t k = 0; k < task->problems.size() && k < 64; ++k)
          texts.push_back(task->format.prompt(task->problems[k]));
        warn_if_lossy(em.tokenizer, texts, "the " + eo.dataset + " prompts", log);
      }
    }
    double offset = opt.threshold_offsets.size() > 1 ? opt.threshold_offsets[i] : common_offset;
    Json calibration;
    if (match && match->second == i) {  // the threshold-shift row: its offset matches the other's ratio
      ActivityScope activity("calibrating the threshold offset of " + paths[i]);
      EvalTask calib = calibration_task(eo, *task, task_synthetic, opt.calibration_problems);
      const size_t target = match->first;
      const double target_offset =
          opt.threshold_offsets.size() > 1 ? opt.threshold_offsets[target] : common_offset;
      RatioMatch m =
          calibrate_threshold_offset(paths[target], target_offset, task_for(target, calib), paths[i],
                                     task_for(i, calib), eo.max_new_tokens, eo.batch, device, log);
      offset = m.offset;
      calibration = m.to_json();
      calibration.set("matched_row", int64_t(target + 1));
      calibration.set("problems", int64_t(calib.problems.size()));
      calibration.set("split", eo.dataset == "synthetic" ? "val" : "train");
    }
    shift_thresholds(*em.model, offset);
    em.model->to(device);
    EvalResult r =
        evaluate(*em.model, em.tokenizer, task_for(i, *task), eo.max_new_tokens, eo.batch, &log, comm);
    r.checkpoint = paths[i];
    r.step = em.step;
    r.threshold_offset = offset;
    r.calibration = calibration;
    r.label =
        opt.labels.empty() ? default_label(paths[i], r.attention, r.shots, r.cot, offset) : opt.labels[i];
    std::string dir_name = safe_name(r.label);
    for (int k = 2; std::find(used.begin(), used.end(), dir_name) != used.end(); ++k)
      dir_name = safe_name(r.label) + "_" + std::to_string(k);
    used.push_back(dir_name);
    rows.push_back(std::move(r));
  }
  if (!opt.baseline.empty()) {
    log << "[eval] loading baseline " << opt.baseline << "\n";
    EvalModel em = load_eval_model(opt.baseline);
    shift_thresholds(*em.model, common_offset);
    em.model->to(device);
    EvalResult b = evaluate(*em.model, em.tokenizer, *task, eo.max_new_tokens, eo.batch, &log, comm);
    std::string label = default_label(opt.baseline, b.attention, b.shots, b.cot, common_offset);
    for (EvalResult& r : rows) {
      r.baseline_flops = b.flops_per_query;
      r.baseline_attention_flops = b.attention_flops_per_query;
      r.baseline_label = label;
    }
  } else if (rows.size() > 1) {
    for (EvalResult& r : rows) {
      r.baseline_flops = rows[0].flops_per_query;
      r.baseline_attention_flops = rows[0].attention_flops_per_query;
      r.baseline_label = rows[0].label;
    }
  }
  std::string table = markdown_table(rows);
  if (rows.size() > 1) table += "\nPaired answers (McNemar's test, two-sided):\n\n" + paired_table(rows);
  out << table;
  out.flush();
  if (!opt.out_dir.empty() && root) {
    if (rows.size() == 1) {
      write_eval_result(rows[0], opt.out_dir);
    } else {
      make_dir(opt.out_dir);
      Json all = Json::array();
      for (size_t i = 0; i < rows.size(); ++i) {
        write_eval_result(rows[i], opt.out_dir + "/" + used[i]);
        all.push_back(rows[i].summary());
      }
      write_text(
          opt.out_dir + "/summary.json",
          Json::object({{"dataset", rows[0].dataset}, {"rows", all}, {"paired", paired_json(rows)}}).dump() +
              "\n");
      write_text(opt.out_dir + "/summary.md", table);
    }
    log << "[eval] wrote " << opt.out_dir << "\n";
  }
  return rows;
}

}  // namespace sra::eval
