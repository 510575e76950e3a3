// Safetensors reading (mmap, validated header) and writing (atomic): format and checks in run/safetensors.h.
#include "run/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/json.h"
#include "core/parallel.h"

namespace sra {

namespace {

struct DTypeSize {
  const char* name;
  size_t size;
};
constexpr DTypeSize kDTypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
                                 {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
                                 {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};

std::string head(const std::string& path) {
  return "[safetensors] " + path + ": ";
}

// One header entry: {"dtype", "shape", "data_offsets"} checked against the data section's size.
SafetensorsEntry parse_entry(const std::string& name, const Json& v, uint64_t data_size,
                             const std::string& h) {
  const std::string t = h + "tensor '" + name + "': ";
  SRA_CHECK(v.is_object(), t, "expected an object, got ", Json::type_name(v.type()));
  for (const auto& [k, _] : v.as_object())
    SRA_CHECK(k == "dtype" || k == "shape" || k == "data_offsets", t, "unknown key '", k, "'");
  SafetensorsEntry e;
  e.name = name;
  const Json* dt = v.find("dtype");
  SRA_CHECK(dt && dt->is_string(), t, "missing or non-string 'dtype'");
  e.dtype = dt->as_string();
  const size_t esize = safetensors_dtype_size(e.dtype);
  SRA_CHECK(esize > 0, t, "unknown dtype '", e.dtype, "'");
  const Json* sh = v.find("shape");
  SRA_CHECK(sh && sh->is_array(), t, "missing or non-array 'shape'");
  SRA_CHECK(sh->size() <= 16, t, "shape has ", sh->size(), " dimensions (at most 16)");
  uint64_t numel = 1;  // of the non-zero dimensions: must fit int64 even when another dimension is 0
  bool overflow = false, has_zero = false;
  for (const Json& d : sh->as_array()) {
    SRA_CHECK(d.is_int() && d.as_int() >= 0, t, "shape entries must be integers >= 0, got ", d.dump());
    const uint64_t n = uint64_t(d.as_int());
    if (n == 0)
      has_zero = true;
    else if (numel > uint64_t(INT64_MAX) / n)
      overflow = true;
    else
      numel *= n;
    e.shape.push_back(d.as_int());
  }
  if (has_zero && !overflow) numel = 0;
  const Json* off = v.find("data_offsets");
  SRA_CHECK(off && off->is_array() && off->size() == 2 && (*off)[0].is_int() && (*off)[1].is_int(), t,
            "'data_offsets' must be two integers");
  const int64_t b = (*off)[0].as_int(), en = (*off)[1].as_int();
  SRA_CHECK(b >= 0 && en >= b, t, "data_offsets [", b, ", ", en, "] are not an increasing pair of offsets");
  SRA_CHECK(uint64_t(en) <= data_size, t, "data_offsets [", b, ", ", en, "] run past the data section (",
            data_size, " bytes): truncated file?");
  e.begin = uint64_t(b), e.end = uint64_t(en);
  SRA_CHECK(!overflow && numel <= UINT64_MAX / esize && numel * esize == e.end - e.begin, t, "shape ",
            shape_str(e.shape), " of ", e.dtype, " is ",
            overflow ? std::string("too many") : std::to_string(numel * esize),
            " bytes, but data_offsets span ", e.end - e.begin);
  return e;
}

// Non-overlapping spans (empty tensors take no bytes and never overlap).
void check_overlaps(std::vector<SafetensorsEntry> es, const std::string& h) {
  std::sort(es.begin(), es.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : es) {
    if (e.begin == e.end) continue;
    if (prev)
      SRA_CHECK(e.begin >= prev->end, h, "tensors '", prev->name, "' [", prev->begin, ", ", prev->end,
                ") and '", e.name, "' [", e.begin, ", ", e.end, ") overlap");
    prev = &e;
  }
}

// out[i] = element i of src (F32, BF16 or F16, little-endian) as T.
template <typename T>
void widen(T* out, const uint8_t* src, int64_t n, const std::string& dtype) {
  if (dtype == "F64") {
    for (int64_t i = 0; i < n; ++i) {
      double f;
      std::memcpy(&f, src + 8 * i, 8);
      out[i] = T(f);
    }
    return;
  }
  if (dtype == "F32") {
    for (int64_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      out[i] = T(f);
    }
    return;
  }
  const bool is_bf16 = dtype == "BF16";
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b;
    std::memcpy(&b, src + 2 * i, 2);
    bf16 x;
    x.bits = b;
    out[i] = T(is_bf16 ? float(x) : f16_to_float(b));
  }
}

void write_all(int fd, const void* p, size_t n, const std::string& tmp) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    SRA_CHECK(w > 0, "[safetensors] cannot write '", tmp, "': ", std::strerror(errno));
    c += w, n -= size_t(w);
  }
}

// The bytes of a CPU tensor's elements as `dtype` (F32, BF16 or F16).
std::string encode(const std::string& name, const Tensor& t_in, const std::string& dtype) {
  Tensor t = t_in.to(Device::cpu());
  SRA_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::bf16,
            "[safetensors] tensor '", name, "': cannot write dtype ", dtype_name(t.dtype()));
  const std::vector<float> v = t.to_vector<float>();
  std::string out;
  if (dtype == "F64") {
    const std::vector<double> d = t.to_vector<double>();
    out.resize(d.size() * 8);
    if (!d.empty()) std::memcpy(out.data(), d.data(), out.size());
  } else if (dtype == "F32") {
    out.resize(v.size() * 4);
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  } else if (dtype == "BF16" || dtype == "F16") {
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = dtype == "BF16" ? bf16(v[i]).bits : float_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  } else {
    SRA_CHECK(false, "[safetensors] tensor '", name, "': cannot write as '", dtype,
              "' (F64, F32, BF16 or F16)");
  }
  return out;
}

}  // namespace

size_t safetensors_dtype_size(std::string_view dtype) {
  for (const DTypeSize& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

SafetensorsHeader parse_safetensors_header(std::string_view text, uint64_t data_size,
                                           const std::string& path) {
  const std::string h = head(path);
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error(h + "header is not valid JSON: " + e.what());
  }
  SRA_CHECK(j.is_object(), h, "header must be a JSON object, got ", Json::type_name(j.type()));
  SafetensorsHeader out;
  for (const auto& [name, v] : j.as_object()) {
    if (name == "__metadata__") {
      SRA_CHECK(v.is_object(), h, "__metadata__ must be an object");
      for (const auto& [k, s] : v.as_object()) {
        SRA_CHECK(s.is_string(), h, "__metadata__ value of '", k, "' must be a string");
        out.metadata[k] = s.as_string();
      }
      continue;
    }
    SRA_CHECK(!name.empty(), h, "a tensor has an empty name");
    out.entries.push_back(parse_entry(name, v, data_size, h));
  }
  check_overlaps(out.entries, h);
  return out;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  const std::string h = head(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SRA_CHECK(fd >= 0, h, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    SRA_CHECK(false, h, "not a regular file");
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    SRA_CHECK(false, h, "file is ", size, " bytes, too short for the 8-byte header length (truncated?)");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  SRA_CHECK(m != MAP_FAILED, h, "cannot mmap: ", std::strerror(errno));
  f->map_ = m;
  f->map_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian
  SRA_CHECK(n <= size - 8, h, "header length ", n, " exceeds the file's ", size - 8,
            " bytes after the length (truncated or not a safetensors file)");
  SRA_CHECK(n <= kSafetensorsMaxHeader, h, "header length ", n, " is over the 100 MiB limit");
  f->data_ = bytes + 8 + n;
  f->header_ = parse_safetensors_header(std::string_view(reinterpret_cast<const char*>(bytes + 8), size_t(n)),
                                        size - 8 - n, path);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const SafetensorsEntry& e : header_.entries)
    if (e.name == name) return &e;
  return nullptr;
}

const SafetensorsEntry& SafetensorsFile::at(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  SRA_CHECK(e, head(path_), "no tensor '", name, "'");
  return *e;
}

void SafetensorsFile::read_into(const SafetensorsEntry& e, Tensor& dst) const {
  const std::string t = head(path_) + "tensor '" + e.name + "': ";
  SRA_CHECK(e.dtype == "F64" || e.dtype == "F32" || e.dtype == "BF16" || e.dtype == "F16", t, "dtype ",
            e.dtype, " is not supported (F64, F32, BF16 or F16)");
  SRA_CHECK(dst.dtype() == DType::f32 || dst.dtype() == DType::f64 || dst.dtype() == DType::bf16, t,
            "destination dtype ", dtype_name(dst.dtype()), " (f32, f64 or bf16)");
  SRA_CHECK(dst.is_contiguous(), t, "destination is not contiguous");
  const int64_t n = shape_numel(e.shape);
  SRA_CHECK(n == dst.numel(), t, "has ", n, " elements, the destination ", dst.numel());
  const uint8_t* src = data(e);
  if (dst.dtype() == DType::bf16) {  // a bf16 base (train.base_dtype): BF16 bits as they are, others rounded
    if (e.dtype != "BF16") {
      dst.copy_(read(e, DType::f32).to(dst.device()));  // rounded to nearest even by the copy
    } else if (dst.device().is_cuda()) {
      cuda::memcpy_h2d(dst.raw(), src, size_t(n) * 2, dst.device().index);
    } else {
      std::memcpy(dst.raw(), src, size_t(n) * 2);
    }
    dst.bump_version();
    return;
  }
  if (dst.device().is_cuda()) {
    const int dev = dst.device().index;
    if ((e.dtype == "F32" && dst.dtype() == DType::f32) || (e.dtype == "F64" && dst.dtype() == DType::f64)) {
      cuda::memcpy_h2d(dst.raw(), src, size_t(n) * dtype_size(dst.dtype()), dev);  // from the mapping
    } else if (e.dtype == "BF16") {
      Tensor raw = Tensor::empty(dst.shape(), DType::bf16, dst.device());
      cuda::memcpy_h2d(raw.raw(), src, size_t(n) * 2, dev);
      dst.copy_(raw);  // widened on the device
    } else {
      Tensor host = read(e, dst.dtype());
      dst.copy_(host.to(dst.device()));
    }
    dst.bump_version();
    return;
  }
  if ((dst.dtype() == DType::f32 && e.dtype == "F32") || (dst.dtype() == DType::f64 && e.dtype == "F64")) {
    std::memcpy(dst.raw(), src, size_t(n) * dtype_size(dst.dtype()));
  } else {
    const size_t esize = safetensors_dtype_size(e.dtype);
    parallel_for(n, 1 << 16, [&](int64_t lo, int64_t hi) {  // chunks of the tensor, in parallel
      if (dst.dtype() == DType::f32)
        widen(static_cast<float*>(dst.raw()) + lo, src + size_t(lo) * esize, hi - lo, e.dtype);
      else
        widen(static_cast<double*>(dst.raw()) + lo, src + size_t(lo) * esize, hi - lo, e.dtype);
    });
  }
  dst.bump_version();
}

Tensor SafetensorsFile::read(const SafetensorsEntry& e, DType as) const {
  Tensor t = Tensor::empty(e.shape, as);
  read_into(e, t);
  return t;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json hdr = Json::object();
  if (!metadata.empty()) {
    Json md = Json::object();
    for (const auto& [k, v] : metadata) md.set(k, v);
    hdr.set("__metadata__", md);
  }
  std::vector<std::string> blobs;
  uint64_t off = 0;
  for (const SafetensorsTensor& t : tensors) {
    SRA_CHECK(!t.name.empty() && t.name != "__metadata__", "[safetensors] bad tensor name '", t.name, "'");
    SRA_CHECK(!hdr.contains(t.name), "[safetensors] tensor '", t.name, "' is given twice");
    blobs.push_back(encode(t.name, t.tensor, t.dtype));
    Json shape = Json::array();
    for (int64_t d : t.tensor.shape()) shape.push_back(d);
    const uint64_t end = off + blobs.back().size();
    hdr.set(t.name, Json::object({{"dtype", t.dtype},
                                  {"shape", shape},
                                  {"data_offsets", Json::array({int64_t(off), int64_t(end)})}}));
    off = end;
  }
  std::string text = hdr.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SRA_CHECK(fd >= 0, "[safetensors] cannot create '", tmp, "': ", std::strerror(errno));
  try {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    write_all(fd, len, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const std::string& b : blobs) write_all(fd, b.data(), b.size(), tmp);
    SRA_CHECK(::fsync(fd) == 0, "[safetensors] cannot sync '", tmp, "': ", std::strerror(errno));
    ::close(fd);
    fd = -1;
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    SRA_CHECK(!ec, "[safetensors] cannot rename '", tmp, "' to '", path, "': ", ec.message());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((man & 0x400u) == 0) man <<= 1, --exp;
      u = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));  // inf, NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds past 65504: inf
  if (abs < 0x38800000u) {                                  // below the smallest normal: subnormal or 0
    if (abs < 0x33000000u) return sign;                     // < half the smallest subnormal
    const uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return uint16_t(sign | r);
}

}  // namespace sra
