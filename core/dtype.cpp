#include "core/dtype.h"

#include "core/check.h"
#include "core/device.h"

namespace sra {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::bf16:
      return 2;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
    case DType::u8:
      return 1;
  }
  SRA_ASSERT(false, "bad dtype");
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::bf16:
      return "bf16";
    case DType::i32:
      return "i32";
    case DType::i64:
      return "i64";
    case DType::u8:
      return "u8";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "f32" || n == "float32" || n == "fp32") return DType::f32;
  if (n == "f64" || n == "float64" || n == "fp64") return DType::f64;
  if (n == "bf16" || n == "bfloat16") return DType::bf16;
  if (n == "i32" || n == "int32") return DType::i32;
  if (n == "i64" || n == "int64") return DType::i64;
  if (n == "u8" || n == "bool" || n == "uint8") return DType::u8;
  throw Error("[dtype] unknown dtype '" + n + "' (expected f32, f64, bf16, i32, i64, u8)");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    std::string n = s.substr(5);
    bool ok = !n.empty() && n.size() < 4;
    for (char c : n) ok = ok && c >= '0' && c <= '9';
    if (ok) return cuda(std::stoi(n));
  }
  throw Error("[device] unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace sra
