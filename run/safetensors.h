// Safetensors files (Hugging Face's tensor format), read through mmap and written atomically.
//
// Layout: bytes 0..7 the header length N (u64 little-endian); bytes 8..8+N a JSON object (UTF-8, may end
// in spaces) mapping each tensor name to {"dtype": "F32"|"BF16"|..., "shape": [d0, ...], "data_offsets":
// [begin, end]}, plus an optional "__metadata__" object of string values; then the data section, whose
// byte offsets the data_offsets count from (row-major, little-endian, no padding inside a tensor).
//
// parse_safetensors_header validates everything before a byte of data is read: N <= file size − 8 and
// N <= 100 MiB; the header is a JSON object; every entry has exactly the keys dtype (a safetensors dtype
// name: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2), shape (non-negative ints)
// and data_offsets (two ints, begin <= end <= data size); numel · dtype size == end − begin (overflow
// checked); spans do not overlap (gaps between spans are allowed); __metadata__ values are strings.
// Errors: sra::Error "[safetensors] <path>: ..." naming the tensor where there is one, e.g.
//   "[safetensors] m.safetensors: tensor 'model.norm.weight': shape [4] of F32 is 16 bytes, but
//    data_offsets span 12".
//
// SafetensorsFile::open maps the file read-only (no copy); data() points into the mapping. read_into
// copies one tensor into an existing tensor of the same element count (f32 or f64, CPU or CUDA),
// converting F64 / F32 / BF16 / F16 on the way (other dtypes: an error naming the tensor): on the CPU
// straight from the mapping into the destination; on CUDA F32 (F64) is uploaded from the mapping into the
// destination, BF16 uploaded as it is and widened on the device, F16 widened on the host first (no f16 device
// type).
//
// write_safetensors writes path.tmp-<pid> then renames it over path: the header padded with spaces to a
// multiple of 8 bytes, tensors in the given order, each stored as F64, F32, BF16 or F16 (rounded to nearest
// even) from a CPU or CUDA tensor of f32, f64 or bf16.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace sra {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // safetensors dtype name, e.g. "BF16"
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
};

inline constexpr uint64_t kSafetensorsMaxHeader = 100ull << 20;

// Bytes per element of a safetensors dtype name; 0 when the name is not one.
size_t safetensors_dtype_size(std::string_view dtype);
// The header JSON `text` of a file whose data section has `data_size` bytes; `path` names it in errors.
SafetensorsHeader parse_safetensors_header(std::string_view text, uint64_t data_size,
                                           const std::string& path);

class SafetensorsFile {
 public:
  // Maps and validates the file (the header length against the file size, then the header).
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsEntry* find(const std::string& name) const;  // nullptr when absent
  const SafetensorsEntry& at(const std::string& name) const;    // error naming it when absent
  const uint8_t* data(const SafetensorsEntry& e) const { return data_ + e.begin; }
  // Copies entry e into dst (numel must match; shape is the caller's business), converting the dtype.
  void read_into(const SafetensorsEntry& e, Tensor& dst) const;
  // Entry e as a new contiguous CPU tensor of dtype `as` (f32 or f64).
  Tensor read(const SafetensorsEntry& e, DType as = DType::f32) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  SafetensorsHeader header_;
};

struct SafetensorsTensor {
  std::string name;
  Tensor tensor;              // f32, f64 or bf16, any device; written row-major
  std::string dtype = "F32";  // stored as F64, F32, BF16 or F16
};

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// IEEE half precision <-> float (round to nearest even; subnormals, infinities and NaN kept).
float f16_to_float(uint16_t h);
uint16_t float_to_f16(float f);

}  // namespace sra
