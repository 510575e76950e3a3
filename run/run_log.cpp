// Metrics files, number formatting and the progress bar: see run/run_log.h.
#include "run/run_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/check.h"

namespace sra {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string fmt(const char* printf_format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

void log_interrupted(std::ostream& log, int64_t step, int64_t total) {
  log << "interrupted at step " << step << " of " << total
      << (step > 0 ? "; continue with --resume auto" : "") << "\n"
      << std::flush;
}

std::ostream& null_stream() {
  struct NullBuf : std::streambuf {
    int overflow(int c) override { return c; }
  };
  static NullBuf buf;
  static std::ostream o(&buf);
  return o;
}

void truncate_metrics(const std::string& path, std::optional<int64_t> resumed_step, const char* component) {
  std::string kept;
  if (resumed_step) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json j;
      try {
        j = Json::parse(line);
      } catch (const Error&) {
        continue;  // a line cut short by a crash
      }
      const Json* st = j.is_object() ? j.find("step") : nullptr;
      if (st && st->is_number() && st->as_int() <= *resumed_step) kept += line + "\n";
    }
  }
  std::ofstream out(path, std::ios::trunc);
  SRA_CHECK(out.good(), "[", component, "] cannot write ", path);
  out << kept;
}

MetricsWriter::MetricsWriter(const std::string& path, const char* component) : out_(path, std::ios::app) {
  SRA_CHECK(out_.good(), "[", component, "] cannot write ", path);
}

void MetricsWriter::write(const Json& line) {
  out_ << line.dump() << "\n" << std::flush;
}

ProgressBar::ProgressBar(std::ostream& log, bool enabled, int64_t total, int64_t first, int64_t last)
    : log_(log), enabled_(enabled), total_(total), first_(first), last_(last), t0_(now_s()) {}

void ProgressBar::draw(int64_t step, const std::string& fields) {
  if (!enabled_) return;
  const int width = 24;
  int filled = int(double(width) * double(step) / double(std::max<int64_t>(total_, 1)));
  double per_step = (now_s() - t0_) / double(std::max<int64_t>(step - first_, 1));
  double eta = per_step * double(last_ - step);
  log_ << "\r\x1b[K" << step << "/" << total_ << " [" << std::string(size_t(filled), '#')
       << std::string(size_t(width - filled), '.') << "] " << fields << "  ETA " << fmt("%.0f", eta) << "s"
       << std::flush;
}

void ProgressBar::clear() {
  if (enabled_) log_ << "\r\x1b[K";
}

}  // namespace sra
