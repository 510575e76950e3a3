// The log stream handed to library runs (sra train, sra rl): lines starting "warning:" go to the
// warning stream (stderr), every other line to the log (stdout), unchanged and in order within each
// stream. The library writes one log; the CLI keeps warnings out of stdout. A flush passes a partial
// line on as soon as it cannot be a warning (progress lines ending in '\r' on a terminal).
#pragma once
#include <ostream>
#include <streambuf>
#include <string>

namespace sra::cli {

class WarningSplitBuf : public std::streambuf {
 public:
  WarningSplitBuf(std::ostream& log, std::ostream& warn) : log_(log), warn_(warn) {}
  ~WarningSplitBuf() override { sync(); }

 protected:
  int_type overflow(int_type c) override;
  int sync() override;

 private:
  std::ostream* target() const;  // where the current line goes, once known (nullptr: not yet)
  void emit();
  std::ostream& log_;
  std::ostream& warn_;
  std::string line_;                 // the current line's unsent bytes
  std::ostream* sent_to_ = nullptr;  // where this line's earlier bytes went (a flushed partial line)
};

// An ostream over a WarningSplitBuf.
class WarningSplitStream : public std::ostream {
 public:
  WarningSplitStream(std::ostream& log, std::ostream& warn) : std::ostream(&buf_), buf_(log, warn) {}
  ~WarningSplitStream() override { flush(); }

 private:
  WarningSplitBuf buf_;
};

}  // namespace sra::cli
