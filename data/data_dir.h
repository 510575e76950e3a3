// Where the shared data sets live (gsm8k/, math/, tinyshakespeare/ ...).
// resolve_data_dir(flag) returns, in order of preference:
//   1. `flag` (the --data-dir option) when it is not empty;
//   2. the environment variable SRA_DATA_DIR when it is set and not empty;
//   3. "../shared/data" relative to the current directory, when that is a directory;
//   4. SRA_SOURCE_DIR "/../shared/data" (the repo root's sibling, compiled in by CMake), when it is one.
// A directory named by 1 or 2 must exist; otherwise, and when 3 and 4 both fail, it throws sra::Error
// "[data] ..." naming what it tried.
#pragma once
#include <string>

namespace sra {

std::string resolve_data_dir(const std::string& flag);

}  // namespace sra
