// See tools/cli/log_split.h. Unbuffered streambuf: every character comes through overflow().
#include "tools/cli/log_split.h"

#include <algorithm>
#include <string_view>

namespace sra::cli {

namespace {
constexpr std::string_view kWarning = "warning:";
constexpr std::string_view kErase = "\x1b[K";
}  // namespace

std::ostream* WarningSplitBuf::target() const {
  if (sent_to_ != nullptr) return sent_to_;
  std::string_view rest = line_;
  // a progress bar's "erase line" may come first: the text starts after it
  if (rest.size() < kErase.size() && kErase.substr(0, rest.size()) == rest) return nullptr;
  if (rest.substr(0, kErase.size()) == kErase) rest.remove_prefix(kErase.size());
  const size_t n = std::min(rest.size(), kWarning.size());
  if (rest.substr(0, n) != kWarning.substr(0, n)) return &log_;
  return rest.size() >= kWarning.size() ? &warn_ : nullptr;
}

void WarningSplitBuf::emit() {
  std::ostream* t = target();
  if (t == nullptr) t = &log_;  // a line that ended before it could be told apart
  t->write(line_.data(), std::streamsize(line_.size()));
  sent_to_ = t;
  line_.clear();
}

WarningSplitBuf::int_type WarningSplitBuf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  line_.push_back(traits_type::to_char_type(c));
  if (c == '\n' || c == '\r') {
    emit();
    sent_to_ = nullptr;
  }
  return c;
}

int WarningSplitBuf::sync() {
  if (!line_.empty() && target() != nullptr) emit();
  log_.flush();
  warn_.flush();
  return 0;
}

}  // namespace sra::cli
