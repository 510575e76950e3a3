// What the program is doing, for errors that carry no context of their own (std::bad_alloc): the CLI
// reports "out of memory ... while <activity>" (tools/cli/main.cpp).
//   ActivityScope a("tokenizing " + path);  — pushes a label for the scope's lifetime (this thread)
//   current_activity()  — the labels in force, outer to inner, joined with ": " ("" when none)
//   failed_activity()   — current_activity() as it was when an exception last unwound an ActivityScope
//                         (recorded by the innermost scope it left; cleared when a scope opens or
//                         closes normally, since an exception caught before then was handled); "" when none
#pragma once
#include <string>

namespace sra {

class ActivityScope {
 public:
  explicit ActivityScope(std::string label);
  ~ActivityScope();
  ActivityScope(const ActivityScope&) = delete;
  ActivityScope& operator=(const ActivityScope&) = delete;

 private:
  int uncaught_;
};

std::string current_activity();
std::string failed_activity();

}  // namespace sra
