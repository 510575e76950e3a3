// What a run logs as it goes, shared by `sra train` (train/trainer.cpp) and `sra rl` (rl/rl_trainer.cpp).
//
// Metrics file (out_dir/<logging.metrics_file>, JSON lines, one object per line with an integer "step"):
//   truncate_metrics(path, resumed_step) runs once before a run appends to the file. A fresh start
//   (resumed_step = nullopt) empties it. A resumed run keeps exactly the lines whose step the resumed
//   checkpoint covers, step <= *resumed_step (a checkpoint at step s holds the state after s updates, so
//   lines 1..s, and a step-0 line such as the initial evaluation, describe work it contains); later lines
//   belong to work the resumed run redoes and are dropped. Empty lines, lines that are not JSON (a line
//   cut short by a crash) and objects without a numeric "step" are dropped too. The file is created when
//   missing; "[<component>] cannot write <path>" when it cannot be written.
//   MetricsWriter appends one line per write() and flushes it, so a crash loses at most the line being
//   written.
// Console lines: fmt(printf format, value) formats one number; now_s() is a monotonic clock in seconds.
// ProgressBar (logging.progress): one line redrawn in place ("\r\x1b[K"),
//   "<step>/<total> [####....] <fields>  ETA <s>s", a 24-character bar filled step/total, the ETA from the
//   mean time per step since the bar started (at step `first`) times the steps left to `last`. Disabled,
//   draw() and clear() print nothing.
// log_interrupted: the line a run that stopped on SIGINT / SIGTERM (run/interrupt.h) ends with,
//   "interrupted at step <step> of <total>; continue with --resume auto" (the hint only when step > 0).
#pragma once
#include <cstdint>
#include <fstream>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>

#include "core/json.h"

namespace sra {

double now_s();
std::string fmt(const char* printf_format, double v);

void log_interrupted(std::ostream& log, int64_t step, int64_t total);

// A stream that drops what it is given (the log and output of a data-parallel job's ranks other than 0).
std::ostream& null_stream();

void truncate_metrics(const std::string& path, std::optional<int64_t> resumed_step, const char* component);

class MetricsWriter {
 public:
  MetricsWriter(const std::string& path, const char* component);  // appends
  void write(const Json& line);

 private:
  std::ofstream out_;
};

class ProgressBar {
 public:
  ProgressBar(std::ostream& log, bool enabled, int64_t total, int64_t first, int64_t last);
  void draw(int64_t step, const std::string& fields);
  void clear();  // before any other line is written

 private:
  std::ostream& log_;
  bool enabled_;
  int64_t total_, first_, last_;
  double t0_;
};

}  // namespace sra
