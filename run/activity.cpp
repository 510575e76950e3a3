// Activity labels: a thread-local stack; a scope left by an exception records the stack once.
#include "run/activity.h"

#include <exception>
#include <vector>

namespace sra {

namespace {
thread_local std::vector<std::string> t_stack;
thread_local std::string t_failed;
thread_local size_t t_failed_depth = 0;  // stack depth of the scope that recorded t_failed
}  // namespace

ActivityScope::ActivityScope(std::string label) : uncaught_(std::uncaught_exceptions()) {
  t_failed.clear();
  t_failed_depth = 0;
  t_stack.push_back(std::move(label));
}

ActivityScope::~ActivityScope() {
  if (std::uncaught_exceptions() <= uncaught_) {  // a normal exit: any failure inside was handled
    t_failed.clear();
    t_failed_depth = 0;
  } else if (t_failed_depth < t_stack.size()) {  // the innermost scope the exception leaves
    t_failed = current_activity();
    t_failed_depth = t_stack.size();
  }
  t_stack.pop_back();
}

std::string current_activity() {
  std::string s;
  for (const std::string& l : t_stack) s += (s.empty() ? "" : ": ") + l;
  return s;
}

std::string failed_activity() {
  return t_failed;
}

}  // namespace sra
