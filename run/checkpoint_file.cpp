// The checkpoint file format: HDF5 layout, CRC-32C checksums and the seal, atomic save and verified load
// (layout, checksum and atomic-save protocol in run/checkpoint.h; directories and state naming are in
// run/checkpoint.cpp).
// Every HDF5 object lives in an RAII Hid so that an error path closes everything before the temporary
// file is removed. HDF5 failures are turned into sra::Error with the innermost message of HDF5's error
// stack (e.g. "truncated file: eof = 100, ...") while automatic error printing is off.
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>

#include "autograd/tape.h"
#include "run/checkpoint.h"

namespace sra {

namespace fs = std::filesystem;

namespace {

// CRC-32C of the stream's bytes from `offset` to its end, read in 1 MiB chunks, and offset + their count.
std::pair<uint32_t, uint64_t> crc32c_to_end(std::istream& in, uint64_t offset) {
  std::vector<char> buf(1 << 20);
  in.seekg(std::streamoff(offset));
  uint32_t crc = 0;
  uint64_t end = offset;
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    crc = crc32c(buf.data(), size_t(in.gcount()), crc);
    end += uint64_t(in.gcount());
  }
  return {crc, end};
}

}  // namespace

uint32_t file_crc32c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in, "[checkpoint] cannot read ", path, ": ", std::strerror(errno));
  const uint32_t crc = crc32c_to_end(in, 0).first;
  SRA_CHECK(in.eof(), "[checkpoint] cannot read ", path);
  return crc;
}

// ---- HDF5 plumbing ----------------------------------------------------------------------------------

namespace {

constexpr const char* kFormat = "sra-checkpoint";
constexpr int64_t kFormatVersion = 1;
constexpr uint64_t kSealBytes = 512;  // HDF5 user block holding the seal (a power of 2, >= 512)

// Turns HDF5's automatic error printing off for its scope (restoring the previous handler).
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &fn_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, fn_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t fn_ = nullptr;
  void* data_ = nullptr;
};

herr_t innermost_error(unsigned n, const H5E_error2_t* err, void* out) {
  if (n == 0 && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}

// " (<innermost HDF5 error>)" or "", clearing the error stack.
std::string hdf5_reason() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, &desc);
  H5Eclear2(H5E_DEFAULT);
  desc.erase(std::remove(desc.begin(), desc.end(), '\n'), desc.end());
  return desc.empty() ? "" : " (" + desc + ")";
}

// Throws sra::Error(what + reason) from inside save/load; the callers add "[checkpoint] <path>: ".
[[noreturn]] void fail(const std::string& what) {
  throw Error(what + hdf5_reason());
}

class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid(hid_t id, Closer close, const std::string& what) : id_(id), close_(close) {
    if (id_ < 0) fail(what);
  }
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid& operator=(Hid&&) = delete;
  operator hid_t() const { return id_; }
  // Closes now, reporting failure (file closes flush data: a full disk shows up here).
  void close(const std::string& what) {
    hid_t id = id_;
    id_ = -1;
    if (close_(id) < 0) fail(what);
  }

 private:
  hid_t id_;
  Closer close_;
};

void check(herr_t status, const std::string& what) {
  if (status < 0) fail(what);
}

hid_t file_type(DType t) {
  switch (t) {
    case DType::f32:
      return H5T_IEEE_F32LE;
    case DType::f64:
      return H5T_IEEE_F64LE;
    case DType::bf16:
      return H5T_STD_U16LE;
    case DType::i32:
      return H5T_STD_I32LE;
    case DType::i64:
      return H5T_STD_I64LE;
    case DType::u8:
      return H5T_STD_U8LE;
  }
  return -1;
}

hid_t memory_type(DType t) {
  switch (t) {
    case DType::f32:
      return H5T_NATIVE_FLOAT;
    case DType::f64:
      return H5T_NATIVE_DOUBLE;
    case DType::bf16:
      return H5T_NATIVE_UINT16;
    case DType::i32:
      return H5T_NATIVE_INT32;
    case DType::i64:
      return H5T_NATIVE_INT64;
    case DType::u8:
      return H5T_NATIVE_UINT8;
  }
  return -1;
}

Hid string_type(size_t size, H5T_str_t pad) {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose, "cannot make a string type");
  check(H5Tset_size(t, size), "cannot make a string type");
  check(H5Tset_strpad(t, pad), "cannot make a string type");
  return t;
}

// ---- attributes ----

void write_attr(hid_t obj, const char* name, hid_t ftype, hid_t mtype, hid_t space, const void* value) {
  std::string what = std::string("cannot write attribute '") + name + "'";
  Hid a(H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, what);
  if (value) check(H5Awrite(a, mtype, value), what);
}

void write_int_attr(hid_t obj, const char* name, int64_t v) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a dataspace");
  write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, space, &v);
}

void write_crc_attr(hid_t obj, uint32_t crc) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a dataspace");
  write_attr(obj, "crc32c", H5T_STD_U32LE, H5T_NATIVE_UINT32, space, &crc);
}

void write_string_attr(hid_t obj, const char* name, const std::string& v) {
  Hid type = string_type(std::max<size_t>(v.size(), 1), H5T_STR_NULLPAD);
  Hid space(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a dataspace");
  std::string buf = v.empty() ? std::string(1, '\0') : v;
  write_attr(obj, name, type, type, space, buf.data());
}

void write_shape_attr(hid_t obj, const Shape& shape) {
  if (shape.empty()) {
    Hid space(H5Screate(H5S_NULL), H5Sclose, "cannot make a dataspace");
    write_attr(obj, "shape", H5T_STD_I64LE, H5T_NATIVE_INT64, space, nullptr);
    return;
  }
  hsize_t n = shape.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose, "cannot make a dataspace");
  write_attr(obj, "shape", H5T_STD_I64LE, H5T_NATIVE_INT64, space, shape.data());
}

Hid open_attr(hid_t obj, const std::string& where, const char* name) {
  return Hid(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, where + ": missing attribute '" + name + "'");
}

template <typename T>
T read_int_attr(hid_t obj, const std::string& where, const char* name) {
  Hid a = open_attr(obj, where, name);
  std::string what = where + ": bad attribute '" + name + "'";
  Hid type(H5Aget_type(a), H5Tclose, what);
  Hid space(H5Aget_space(a), H5Sclose, what);
  if (H5Tget_class(type) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1) throw Error(what);
  T v{};
  check(H5Aread(a, std::is_same_v<T, int64_t> ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT32, &v), what);
  return v;
}

std::string read_string_attr(hid_t obj, const std::string& where, const char* name) {
  Hid a = open_attr(obj, where, name);
  std::string what = where + ": bad attribute '" + name + "'";
  Hid ftype(H5Aget_type(a), H5Tclose, what);
  if (H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) != 0) throw Error(what);
  size_t size = H5Tget_size(ftype);
  Hid mtype = string_type(size, H5T_STR_NULLPAD);
  std::string v(size, '\0');
  check(H5Aread(a, mtype, v.data()), what);
  while (!v.empty() && v.back() == '\0') v.pop_back();
  return v;
}

Shape read_shape_attr(hid_t obj, const std::string& where) {
  Hid a = open_attr(obj, where, "shape");
  std::string what = where + ": bad attribute 'shape'";
  Hid space(H5Aget_space(a), H5Sclose, what);
  H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_NULL) return {};
  if (cls != H5S_SIMPLE || H5Sget_simple_extent_ndims(space) != 1) throw Error(what);
  Shape shape(size_t(H5Sget_simple_extent_npoints(space)));
  check(H5Aread(a, H5T_NATIVE_INT64, shape.data()), what);
  return shape;
}

// ---- string datasets (manifest, meta) ----

void write_string_dataset(hid_t parent, const std::string& name, const std::string& v, uint32_t crc) {
  std::string what = "cannot write dataset '" + name + "'";
  Hid type = string_type(v.size() + 1, H5T_STR_NULLTERM);
  Hid space(H5Screate(H5S_SCALAR), H5Sclose, what);
  Hid d(H5Dcreate2(parent, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose, what);
  std::string buf = v + '\0';
  check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
  write_crc_attr(d, crc);
}

// Reads the value and checks it against `crc` (the manifest's) and the dataset's own crc32c attribute.
std::string read_string_dataset(hid_t parent, const std::string& name, const std::string& where,
                                uint32_t crc) {
  Hid d(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "missing " + where);
  std::string what = "cannot read " + where;
  Hid ftype(H5Dget_type(d), H5Tclose, what);
  Hid space(H5Dget_space(d), H5Sclose, what);
  if (H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) != 0 ||
      H5Sget_simple_extent_type(space) != H5S_SCALAR)
    throw Error(where + " is not a scalar fixed-length string");
  size_t size = H5Tget_size(ftype);
  Hid mtype = string_type(size, H5T_STR_NULLTERM);
  std::string buf(size, '\0');
  check(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
  buf.resize(size - 1);
  uint32_t attr = read_int_attr<uint32_t>(d, where, "crc32c");
  uint32_t actual = crc32c(buf.data(), buf.size());
  if (actual != crc || attr != crc)
    throw Error("checksum mismatch in " + where + " (data " + std::to_string(actual) + ", attribute " +
                std::to_string(attr) + ", manifest " + std::to_string(crc) + ")");
  return buf;
}

// ---- names ----

void check_tensor_name(const std::string& name) {
  bool ok = !name.empty() && name.front() != '/' && name.back() != '/';
  size_t start = 0;
  while (ok && start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    ok = !part.empty() && part != "." && part != "..";
    start = end + 1;
  }
  SRA_CHECK(ok, "invalid tensor name '", name, "' (need '/'-separated non-empty parts, not '.' or '..')");
}

void check_meta_key(const std::string& key) {
  SRA_CHECK(!key.empty() && key.find('/') == std::string::npos && key != "." && key != "..",
            "invalid meta key '", key, "' (need a non-empty name without '/')");
}

Json shape_json(const Shape& s) {
  Json::Array a;
  for (int64_t d : s) a.push_back(Json(d));
  return Json(std::move(a));
}

// ---- the seal: a CRC of the whole file, checked before HDF5 parses anything ----
// HDF5 ignores the user block at the start of the file. After HDF5 has closed the file we write there
// "SRACKPT1", the file size (u64 LE) and the CRC-32C of every byte after the block (u32 LE). A load
// verifies the seal first, so a truncated or corrupted file is rejected without ever reaching HDF5's
// parser (which can crash on some corrupt files).

// The seal's first 20 bytes: "SRACKPT1", size (u64 LE), crc (u32 LE).
void write_seal_head(char* head, uint64_t size, uint32_t crc) {
  std::memcpy(head, "SRACKPT1", 8);
  std::memcpy(head + 8, &size, 8);
  std::memcpy(head + 16, &crc, 4);
}

}  // namespace

void seal_checkpoint_file(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  SRA_CHECK(f, "cannot reopen ", path, " to seal it");
  auto [crc, size] = crc32c_to_end(f, kSealBytes);
  f.clear();
  char head[20];
  write_seal_head(head, size, crc);
  f.seekp(0);
  f.write(head, sizeof head);
  f.flush();
  SRA_CHECK(f, "cannot write the seal of ", path);
}

namespace {

// A regular file whose seal matches its size and bytes; throws the reason otherwise.
void verify_seal(const std::string& path) {
  std::error_code ec;
  SRA_CHECK(fs::is_regular_file(path, ec), fs::exists(path, ec) ? "not a regular file" : "no such file");
  std::ifstream f(path, std::ios::binary);
  SRA_CHECK(f, "cannot read: ", std::strerror(errno));
  char head[20] = {};
  f.read(head, sizeof head);
  SRA_CHECK(f.gcount() == std::streamsize(sizeof head) && std::memcmp(head, "SRACKPT1", 8) == 0,
            "not an SRA checkpoint (no seal)");
  uint64_t size;
  uint32_t want;
  std::memcpy(&size, head + 8, 8);
  std::memcpy(&want, head + 16, 4);
  auto [crc, have] = crc32c_to_end(f, kSealBytes);
  SRA_CHECK(have == size, "truncated or extended file: ", have, " bytes, the seal says ", size);
  SRA_CHECK(crc == want, "file checksum mismatch (the file is corrupt)");
}

// ---- writing ----

// Builds the whole file in memory (HDF5's core driver, no backing store) and returns its bytes, so that
// HDF5 never writes to disk: disk errors (full disk, file size limit, permissions) happen in our own
// POSIX writes, where they are reported cleanly and leave no HDF5 state behind.
std::string build_file_image(const Checkpoint& ckpt, const std::string& tmp) {
  QuietHdf5 quiet;
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot make a property list");
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "cannot set the close degree");
  check(H5Pset_fapl_core(fapl, size_t(1) << 20, /*backing_store=*/false), "cannot use the in-memory driver");
  Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "cannot make a property list");
  check(H5Pset_userblock(fcpl, kSealBytes), "cannot reserve the seal block");
  Hid file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl, fapl), H5Fclose, "cannot create " + tmp);

  Hid lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "cannot make a property list");
  check(H5Pset_create_intermediate_group(lcpl, 1), "cannot set intermediate groups");
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "cannot make a property list");
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "cannot set the fill time");

  Json tensors = Json::array();
  {
    Hid group(H5Gcreate2(file, "tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
              "cannot create group /tensors");
    NoGradGuard no_grad;
    for (const auto& [name, t] : ckpt.tensors) {
      Tensor c = t.detach().to(Device::cpu()).contiguous();
      size_t nbytes = size_t(c.numel()) * dtype_size(c.dtype());
      uint32_t crc = crc32c(c.raw(), nbytes);
      std::vector<hsize_t> dims(c.shape().begin(), c.shape().end());
      std::string what = "cannot write tensor '" + name + "'";
      Hid space(
          dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
          H5Sclose, what);
      Hid d(H5Dcreate2(group, name.c_str(), file_type(c.dtype()), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose,
            what);
      if (nbytes > 0)
        check(H5Dwrite(d, memory_type(c.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, c.raw()), what);
      write_string_attr(d, "dtype", dtype_name(c.dtype()));
      write_shape_attr(d, c.shape());
      write_crc_attr(d, crc);
      tensors.push_back(Json::object({{"name", name},
                                      {"dtype", dtype_name(c.dtype())},
                                      {"shape", shape_json(c.shape())},
                                      {"crc32c", int64_t(crc)}}));
    }
  }
  Json meta = Json::object();
  {
    Hid group(H5Gcreate2(file, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
              "cannot create group /meta");
    for (const auto& [key, value] : ckpt.meta) {
      uint32_t crc = crc32c(value.data(), value.size());
      write_string_dataset(group, key, value, crc);
      meta.set(key, int64_t(crc));
    }
  }
  Json manifest = Json::object({{"step", ckpt.step}, {"tensors", tensors}, {"meta", meta}});
  std::string text = manifest.dump();
  uint32_t manifest_crc = crc32c(text.data(), text.size());
  write_string_dataset(file, "manifest", text, manifest_crc);
  write_string_attr(file, "format", kFormat);
  write_int_attr(file, "format_version", kFormatVersion);
  write_int_attr(file, "step", ckpt.step);
  {
    Hid space(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a dataspace");
    write_attr(file, "manifest_crc32c", H5T_STD_U32LE, H5T_NATIVE_UINT32, space, &manifest_crc);
  }
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "cannot flush " + tmp);
  ssize_t size = H5Fget_file_image(file, nullptr, 0);
  SRA_CHECK(size > 0, "cannot get the file image");
  std::string image(size_t(size), '\0');
  SRA_CHECK(H5Fget_file_image(file, image.data(), size_t(size)) == size, "cannot get the file image");
  file.close("cannot close the in-memory file");
  // The image may or may not carry the user block (HDF5 versions differ): make sure it does.
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  if (image.size() >= 8 && std::memcmp(image.data(), kSignature, 8) == 0) image.insert(0, kSealBytes, '\0');
  SRA_CHECK(image.size() > kSealBytes && std::memcmp(image.data() + kSealBytes, kSignature, 8) == 0,
            "unexpected HDF5 file image layout");
  return image;
}

// Seal: "SRACKPT1", the file size (u64 LE), CRC-32C of the bytes after the user block (u32 LE).
void seal_image(std::string& image) {
  uint64_t size = image.size();
  uint32_t crc = crc32c(image.data() + kSealBytes, image.size() - kSealBytes);
  std::memset(image.data(), 0, kSealBytes);
  write_seal_head(image.data(), size, crc);
}

// Writes the bytes to `path` (created or truncated) and fsyncs; errors carry errno's text.
void write_bytes_synced(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SRA_CHECK(fd >= 0, "cannot create ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      throw Error("cannot write " + path + ": " + std::strerror(n < 0 ? err : ENOSPC));
    }
    done += size_t(n);
  }
  int rc = ::fsync(fd);
  int err = errno;
  SRA_CHECK(::close(fd) == 0 && rc == 0, "cannot sync ", path, ": ", std::strerror(rc ? err : errno));
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  SRA_CHECK(fd >= 0, "cannot open ", path, " to fsync: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot fsync directories (EINVAL); the rename is still atomic there.
  SRA_CHECK(rc == 0 || (directory && err == EINVAL), "fsync of ", path, " failed: ", std::strerror(err));
}

// The crash test hook: SRA_TEST_KILL_IN_SAVE=<stage> makes the save SIGKILL its own process at that
// stage ("before-rename": the temporary file is written and synced, the rename not yet done), so a test
// can prove where a crash leaves the files. Unset (always, outside tests), it does nothing.
void kill_point_for_tests(const char* stage) {
  const char* want = std::getenv("SRA_TEST_KILL_IN_SAVE");
  if (want && std::strcmp(want, stage) == 0) ::raise(SIGKILL);
}

// ---- reading ----

Checkpoint read_file(const std::string& path) {
  QuietHdf5 quiet;
  verify_seal(path);
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot make a property list");
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "cannot set the close degree");
  check(H5Pset_file_locking(fapl, true, true), "cannot set file locking");
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose, "cannot open as HDF5");

  if (H5Aexists(file, "format") <= 0 || read_string_attr(file, "file", "format") != kFormat)
    throw Error("not an SRA checkpoint (no format = \"sra-checkpoint\" attribute)");
  int64_t version = read_int_attr<int64_t>(file, "file", "format_version");
  SRA_CHECK(version == kFormatVersion, "unsupported format_version ", version, " (this build reads ",
            kFormatVersion, ")");
  uint32_t manifest_crc = read_int_attr<uint32_t>(file, "file", "manifest_crc32c");
  Json manifest;
  try {
    manifest = Json::parse(read_string_dataset(file, "manifest", "the manifest", manifest_crc));
  } catch (const Error& e) {
    throw Error(std::string("corrupt manifest: ") + e.what());
  }

  Checkpoint ckpt;
  try {
    ckpt.step = manifest["step"].as_int();
    int64_t attr_step = read_int_attr<int64_t>(file, "file", "step");
    SRA_CHECK(attr_step == ckpt.step, "step attribute ", attr_step, " differs from the manifest's ",
              ckpt.step);
    Hid group(H5Gopen2(file, "tensors", H5P_DEFAULT), H5Gclose, "missing group /tensors");
    for (const Json& e : manifest["tensors"].as_array()) {
      const std::string& name = e["name"].as_string();
      DType dtype = dtype_from_name(e["dtype"].as_string());
      Shape shape;
      for (const Json& d : e["shape"].as_array()) shape.push_back(d.as_int());
      uint32_t crc = uint32_t(e["crc32c"].as_int());
      std::string where = "tensor '" + name + "'";
      Hid d(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, "missing dataset for " + where);
      std::string attr_dtype = read_string_attr(d, where, "dtype");
      SRA_CHECK(attr_dtype == dtype_name(dtype), where, ": dtype attribute '", attr_dtype,
                "' differs from the manifest's ", dtype_name(dtype));
      Shape attr_shape = read_shape_attr(d, where);
      SRA_CHECK(attr_shape == shape, where, ": shape attribute ", shape_str(attr_shape),
                " differs from the manifest's ", shape_str(shape));
      Hid ftype(H5Dget_type(d), H5Tclose, "cannot read " + where);
      SRA_CHECK(H5Tequal(ftype, file_type(dtype)) > 0, where, ": stored element type does not match dtype ",
                dtype_name(dtype));
      Hid space(H5Dget_space(d), H5Sclose, "cannot read " + where);
      Shape dims;
      if (H5Sget_simple_extent_type(space) == H5S_SIMPLE) {
        std::vector<hsize_t> hd(size_t(std::max(0, H5Sget_simple_extent_ndims(space))));
        H5Sget_simple_extent_dims(space, hd.data(), nullptr);
        dims.assign(hd.begin(), hd.end());
        SRA_CHECK(!dims.empty(), where, ": bad dataspace");
      } else {
        SRA_CHECK(H5Sget_simple_extent_type(space) == H5S_SCALAR, where, ": bad dataspace");
      }
      SRA_CHECK(dims == shape, where, ": dataset extent ", shape_str(dims), " differs from the manifest's ",
                shape_str(shape));
      Tensor t = Tensor::empty(shape, dtype);
      size_t nbytes = size_t(t.numel()) * dtype_size(dtype);
      if (nbytes > 0)
        check(H5Dread(d, memory_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), "cannot read " + where);
      uint32_t attr_crc = read_int_attr<uint32_t>(d, where, "crc32c");
      uint32_t actual = crc32c(t.raw(), nbytes);
      SRA_CHECK(actual == crc && attr_crc == crc, "checksum mismatch in ", where, " (data ", actual,
                ", attribute ", attr_crc, ", manifest ", crc, ")");
      ckpt.tensors.emplace_back(name, t);
    }
    Hid meta(H5Gopen2(file, "meta", H5P_DEFAULT), H5Gclose, "missing group /meta");
    for (const auto& [key, crc] : manifest["meta"].as_object())
      ckpt.meta[key] = read_string_dataset(meta, key, "meta '" + key + "'", uint32_t(crc.as_int()));
  } catch (const Error& e) {
    std::string msg = e.what();
    // a manifest that passed its checksum but has the wrong structure
    if (msg.rfind("[json]", 0) == 0 || msg.rfind("[dtype]", 0) == 0)
      throw Error("malformed manifest: " + msg);
    throw;
  }
  file.close("cannot close the file");
  return ckpt;
}

}  // namespace

// ---- public API -------------------------------------------------------------------------------------

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void save_checkpoint(const Checkpoint& ckpt, const std::string& path) {
  const std::string head = "[checkpoint] " + path + ": cannot save: ";
  std::set<std::string> seen;
  for (const auto& [name, t] : ckpt.tensors) {
    try {
      check_tensor_name(name);
    } catch (const Error& e) {
      throw Error(head + e.what());
    }
    SRA_CHECK(seen.insert(name).second, head, "tensor name '", name, "' appears twice");
    SRA_CHECK(t.defined(), head, "tensor '", name, "' is undefined");
  }
  for (const auto& [key, value] : ckpt.meta) {
    try {
      check_meta_key(key);
    } catch (const Error& e) {
      throw Error(head + e.what());
    }
  }

  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    std::string image = build_file_image(ckpt, tmp);
    seal_image(image);
    write_bytes_synced(tmp, image);
    kill_point_for_tests("before-rename");
    SRA_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path, ": ",
              std::strerror(errno));
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    throw Error(head + e.what());
  }
  fs::path dir = fs::path(path).parent_path();
  try {
    fsync_path(dir.empty() ? "." : dir.string(), true);
  } catch (const Error& e) {
    throw Error("[checkpoint] " + path + ": saved, but " + e.what());
  }
}

void verify_checkpoint_file(const std::string& path) {
  try {
    verify_seal(path);
  } catch (const Error& e) {
    throw Error("[checkpoint] " + path + ": " + e.what());
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error& e) {
    throw Error("[checkpoint] " + path + ": " + e.what());
  }
}

}  // namespace sra
