// resolve_data_dir: --data-dir, else $SRA_DATA_DIR, else ../shared/data, else <source dir>/../shared/data.
#include "data/data_dir.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/check.h"

namespace sra {

namespace {
bool is_dir(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}
}  // namespace

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) {
    SRA_CHECK(is_dir(flag), "[data] --data-dir '", flag, "' is not a directory");
    return flag;
  }
  const char* env = std::getenv("SRA_DATA_DIR");
  if (env != nullptr && env[0] != '\0') {
    SRA_CHECK(is_dir(env), "[data] SRA_DATA_DIR='", env, "' is not a directory");
    return env;
  }
  std::string tried = "../shared/data";
  if (is_dir(tried)) return tried;
#ifdef SRA_SOURCE_DIR
  std::string from_source = std::string(SRA_SOURCE_DIR) + "/../shared/data";
  if (is_dir(from_source)) return from_source;
  tried += "', '" + from_source;
#endif
  throw Error("[data] no data directory: pass --data-dir or set SRA_DATA_DIR (tried '" + tried + "')");
}

}  // namespace sra
