// Tests for run/checkpoint: CRC-32C values, bitwise round trips of every dtype (0-d, empty, NaN
// payloads, non-contiguous sources) and of metadata, detection of truncated files, flipped bytes and
// non-HDF5 files, checkpoint directories (newest valid, keep_last, stale temporary files), failed saves
// that leave the previous checkpoint intact (bad paths, bad names, a full disk via RLIMIT_FSIZE),
// all-or-nothing load_into with one error listing every mismatch, generator state, and exact resume of
// Transformer + AdamW training on CPU (2N steps = N steps + save + load into fresh objects + N steps).
#include <doctest/doctest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "autograd/ops.h"
#include "model/transformer.h"
#include "run/checkpoint.h"

using namespace sra;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("sra_ckpt_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Same dtype, shape and bytes.
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw(), cb.raw(), size_t(ca.numel()) * dtype_size(ca.dtype())) == 0;
}

bool same_checkpoint(const Checkpoint& a, const Checkpoint& b) {
  if (a.step != b.step || a.meta != b.meta || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i)
    if (a.tensors[i].first != b.tensors[i].first || !bitwise_equal(a.tensors[i].second, b.tensors[i].second))
      return false;
  return true;
}

Tensor bf16_bits(const std::vector<uint16_t>& bits, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::bf16);
  std::memcpy(t.raw(), bits.data(), bits.size() * 2);
  return t;
}

Checkpoint small_checkpoint(int64_t step) {
  Checkpoint c;
  c.step = step;
  c.tensors.emplace_back("model/w", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
  c.tensors.emplace_back("model/b", Tensor::full({3}, double(step)));
  c.meta["config"] = "d_model: 32\nn_layers: 2\n";
  return c;
}

// File offset of a dataset's raw data (HDF5 API, contiguous layout).
int64_t data_offset(const std::string& path, const std::string& dataset) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  haddr_t off = H5Dget_offset(d);
  H5Dclose(d);
  H5Fclose(f);
  REQUIRE(off != HADDR_UNDEF);
  return int64_t(off);
}

void flip_byte(const std::string& path, int64_t offset) {
  std::string bytes = read_bytes(path);
  REQUIRE(offset < int64_t(bytes.size()));
  bytes[size_t(offset)] = char(bytes[size_t(offset)] ^ 0x10);
  write_bytes(path, bytes);
}

}  // namespace

TEST_CASE("checkpoint: crc32c check value, hardware = table version, streaming") {
  const char* digits = "123456789";
  CHECK(crc32c(digits, 9) == 0xE3069283u);
  CHECK(crc32c_portable(digits, 9) == 0xE3069283u);
  CHECK(crc32c(digits, 0) == 0u);
  std::vector<uint8_t> buf(1000);
  Generator g(5);
  for (auto& b : buf) b = uint8_t(g.next_below(256));
  for (size_t start : {0, 1, 3, 7}) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 500, 993}) {
      CHECK(crc32c(buf.data() + start, n) == crc32c_portable(buf.data() + start, n));
    }
  }
  CHECK(crc32c(buf.data() + 300, 700, crc32c(buf.data(), 300)) == crc32c(buf.data(), 1000));
  TempDir dir;
  write_bytes(dir.file("f"), std::string(buf.begin(), buf.end()));
  CHECK(file_crc32c(dir.file("f")) == crc32c(buf.data(), buf.size()));
  CHECK(contains(error_of([&] { file_crc32c(dir.file("nope")); }), "[checkpoint] cannot read"));
}

TEST_CASE("checkpoint: every dtype, 0-d and empty tensors and metadata round trip bitwise") {
  TempDir dir;
  Checkpoint c;
  c.step = 123456789012LL;
  float fnan;
  uint32_t payload = 0x7fc12345u;
  std::memcpy(&fnan, &payload, 4);
  c.tensors.emplace_back(
      "f32", Tensor::from_vector(std::vector<float>{1.5f, -0.0f, fnan, INFINITY,
                                                    std::numeric_limits<float>::denorm_min(), -3e38f},
                                 {2, 3}));
  c.tensors.emplace_back("f64", Tensor::from_vector(std::vector<double>{M_PI, -1e-300, -INFINITY}, {3}));
  c.tensors.emplace_back(
      "bf16", bf16_bits({0x3f80, 0x8000, 0x7fc1, 0xff80, 0x0001, 0x1234, 0xffff, 0x4049}, {2, 2, 2}));
  c.tensors.emplace_back("ints/i32",
                         Tensor::from_vector(std::vector<int32_t>{INT32_MIN, -1, 0, INT32_MAX}, {4, 1}));
  c.tensors.emplace_back("ints/i64",
                         Tensor::from_vector(std::vector<int64_t>{INT64_MIN, 42, INT64_MAX}, {3}));
  c.tensors.emplace_back("ints/u8", Tensor::from_vector(std::vector<uint8_t>{0, 1, 255}, {1, 3}));
  c.tensors.emplace_back("scalar/f32", Tensor::scalar(2.25));
  c.tensors.emplace_back("scalar/i64", Tensor::from_vector(std::vector<int64_t>{-7}, {}));
  c.tensors.emplace_back("scalar/bf16", bf16_bits({0xc0a0}, {}));
  c.tensors.emplace_back("empty/f32", Tensor::empty({0}, DType::f32));
  c.tensors.emplace_back("empty/bf16", Tensor::empty({2, 0, 3}, DType::bf16));
  c.tensors.emplace_back("empty/i64", Tensor::empty({0, 4}, DType::i64));
  c.tensors.emplace_back("model/model.layers.0.self_attn.q_proj.weight", Tensor::ones({4, 4}));
  // a non-contiguous view is stored as its values
  Tensor base = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  c.tensors.emplace_back("view", base.transpose(0, 1));
  c.meta["config"] = "model:\n  d_model: 32\n";
  c.meta["empty"] = "";
  c.meta["binary"] = std::string("a\0b\0\0", 5);
  c.meta["unicode ünï"] = "λ → ∞";
  c.meta["big"] = std::string(200000, 'x') + "end";  // larger than an HDF5 attribute may be
  c.meta["rng.data"] = generator_state(Generator(3, 1)).dump();

  std::string path = dir.file("all.h5");
  save_checkpoint(c, path);
  CHECK(!fs::exists(path + ".tmp-" + std::to_string(::getpid())));
  Checkpoint r = load_checkpoint(path);
  CHECK(r.step == c.step);
  CHECK(r.meta == c.meta);
  REQUIRE(r.tensors.size() == c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    CAPTURE(c.tensors[i].first);
    CHECK(r.tensors[i].first == c.tensors[i].first);
    if (r.tensors[i].second.numel() > 0) CHECK(r.tensors[i].second.is_contiguous());
    CHECK(bitwise_equal(r.tensors[i].second, c.tensors[i].second));
  }
  CHECK(r.find("view")->to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(r.find("nope") == nullptr);
  CHECK(r.find("empty/bf16")->shape() == Shape{2, 0, 3});
  CHECK(r.find("scalar/f32")->dim() == 0);

  // the file is plain HDF5: dtype and shape attributes, bf16 stored as 16-bit unsigned integers
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "/tensors/bf16", H5P_DEFAULT);
  hid_t t = H5Dget_type(d);
  CHECK(H5Tequal(t, H5T_STD_U16LE) > 0);
  CHECK(H5Aexists(d, "dtype") > 0);
  CHECK(H5Aexists(d, "shape") > 0);
  CHECK(H5Aexists(d, "crc32c") > 0);
  H5Tclose(t);
  H5Dclose(d);
  CHECK(H5Lexists(f, "/tensors/model/model.layers.0.self_attn.q_proj.weight", H5P_DEFAULT) > 0);
  H5Fclose(f);

  // saving over an existing checkpoint replaces it
  Checkpoint c2 = small_checkpoint(5);
  save_checkpoint(c2, path);
  CHECK(same_checkpoint(load_checkpoint(path), c2));
}

TEST_CASE("checkpoint: truncated, non-HDF5 and missing files are errors naming the path") {
  TempDir dir;
  std::string good = dir.file("good.h5");
  save_checkpoint(small_checkpoint(3), good);
  std::string bytes = read_bytes(good);
  int64_t size = int64_t(bytes.size());
  std::string bad = dir.file("bad.h5");
  for (int64_t n :
       {int64_t(0), int64_t(1), int64_t(8), int64_t(100), size / 3, size / 2, size - 100, size - 1}) {
    CAPTURE(n);
    write_bytes(bad, bytes.substr(0, size_t(n)));
    std::string err = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(err, "[checkpoint] " + bad + ": "));
  }
  write_bytes(bad, bytes.substr(0, size_t(size / 2)));
  CHECK(contains(error_of([&] { load_checkpoint(bad); }), "truncated"));
  write_bytes(bad, "this is not an HDF5 file\n");
  CHECK(error_of([&] { load_checkpoint(bad); }) ==
        "[checkpoint] " + bad + ": not an SRA checkpoint (no seal)");
  CHECK(error_of([&] { load_checkpoint(dir.file("missing.h5")); }) ==
        "[checkpoint] " + dir.file("missing.h5") + ": no such file");
  CHECK(error_of([&] { load_checkpoint(dir.path.string()); }) ==
        "[checkpoint] " + dir.path.string() + ": not a regular file");
  // an HDF5 file that is not a checkpoint
  hid_t f = H5Fcreate(bad.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  CHECK(error_of([&] { load_checkpoint(bad); }) ==
        "[checkpoint] " + bad + ": not an SRA checkpoint (no seal)");
  // ... even when it carries a valid seal: HDF5 opens it and the format attribute is missing
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(fcpl, 512);
  f = H5Fcreate(bad.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  H5Fclose(f);
  H5Pclose(fcpl);
  seal_checkpoint_file(bad);
  CHECK(error_of([&] { load_checkpoint(bad); }) ==
        "[checkpoint] " + bad + ": not an SRA checkpoint (no format = \"sra-checkpoint\" attribute)");
  CHECK(same_checkpoint(load_checkpoint(good), small_checkpoint(3)));
}

TEST_CASE("checkpoint: a flipped byte in tensor data, metadata or the manifest is detected") {
  TempDir dir;
  std::string path = dir.file("c.h5");
  struct Target {
    std::string dataset, message;
  };
  for (const Target& tg : {Target{"/tensors/model/w", "checksum mismatch in tensor 'model/w'"},
                           Target{"/tensors/model/b", "checksum mismatch in tensor 'model/b'"},
                           Target{"/meta/config", "checksum mismatch in meta 'config'"},
                           Target{"/manifest", "corrupt manifest: checksum mismatch in the manifest"}}) {
    CAPTURE(tg.dataset);
    save_checkpoint(small_checkpoint(1), path);
    flip_byte(path, data_offset(path, tg.dataset) + 5);
    CHECK(error_of([&] { load_checkpoint(path); }) ==
          "[checkpoint] " + path + ": file checksum mismatch (the file is corrupt)");
    // behind the seal, each dataset's own checksum catches the same flip
    seal_checkpoint_file(path);
    std::string err = error_of([&] { load_checkpoint(path); });
    CHECK(contains(err, "[checkpoint] " + path + ": " + tg.message));
  }
}

TEST_CASE("checkpoint: flipping any byte of the file never loads different content silently") {
  TempDir dir;
  std::string path = dir.file("c.h5");
  Checkpoint c = small_checkpoint(9);
  save_checkpoint(c, path);
  std::string bytes = read_bytes(path);
  int detected = 0, harmless = 0;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    std::string mutated = bytes;
    mutated[i] = char(mutated[i] ^ 0x04);
    write_bytes(path, mutated);
    try {
      Checkpoint r = load_checkpoint(path);
      CAPTURE(i);
      CHECK(same_checkpoint(r, c));  // the flip hit padding or unused space
      ++harmless;
    } catch (const Error& e) {
      CHECK(contains(e.what(), "[checkpoint] " + path + ": "));
      ++detected;
    }
  }
  MESSAGE("byte flips: ", detected, " detected, ", harmless, " in unused bytes, of a ", bytes.size(),
          "-byte file");
  CHECK(detected > 0);
}

TEST_CASE("checkpoint: directories — paths, listing, newest valid, keep_last") {
  TempDir dir;
  std::string d = dir.path.string();
  CHECK(checkpoint_path(d, 42) == d + "/ckpt-00000042.h5");
  CHECK(checkpoint_path(d, 123456789) == d + "/ckpt-123456789.h5");
  CHECK_THROWS_WITH_AS(checkpoint_path(d, -1), "[checkpoint] negative step -1", Error);
  CHECK(list_checkpoints(dir.file("none")).empty());
  std::ostringstream warn0;
  CHECK(!newest_valid_checkpoint(d, warn0).has_value());
  CHECK(!newest_valid_checkpoint(dir.file("none"), warn0).has_value());
  CHECK(warn0.str().empty());

  for (int64_t step : {100, 20, 300, 5, 1000})
    save_checkpoint(small_checkpoint(step), checkpoint_path(d, step));
  write_bytes(dir.file("ckpt-abc.h5"), "x");
  write_bytes(dir.file("notes.txt"), "x");
  CHECK(list_checkpoints(d) == std::vector<std::string>{checkpoint_path(d, 1000), checkpoint_path(d, 300),
                                                        checkpoint_path(d, 100), checkpoint_path(d, 20),
                                                        checkpoint_path(d, 5)});
  std::ostringstream warn1;
  CHECK(newest_valid_checkpoint(d, warn1) == checkpoint_path(d, 1000));
  CHECK(warn1.str().empty());

  // newest truncated, next one with a flipped data byte: both skipped with a warning
  std::string newest = checkpoint_path(d, 1000), second = checkpoint_path(d, 300);
  std::string bytes = read_bytes(newest);
  write_bytes(newest, bytes.substr(0, bytes.size() / 2));
  flip_byte(second, data_offset(second, "/tensors/model/b"));
  std::ostringstream warn2;
  auto found = load_newest_valid_checkpoint(d, warn2);
  REQUIRE(found.has_value());
  CHECK(found->first == checkpoint_path(d, 100));
  CHECK(found->second.step == 100);
  std::string w = warn2.str();
  CHECK(w.rfind("warning: skipping " + newest + ": ", 0) == 0);
  CHECK(contains(w, "\nwarning: skipping " + second + ": file checksum mismatch (the file is corrupt)"));
  CHECK(std::count(w.begin(), w.end(), '\n') == 2);
  std::ostringstream warn3;
  CHECK(newest_valid_checkpoint(d, warn3) == checkpoint_path(d, 100));

  // keep_last counts only valid checkpoints: the corrupt newer ones are renamed *.corrupt (with a
  // warning), never counted and never deleted; older valid ones and stale temporary files are removed
  std::string stale = checkpoint_path(d, 2000) + ".tmp-" + std::to_string(::getpid());
  std::string live = checkpoint_path(d, 2000) + ".tmp-1";  // pid 1 exists
  write_bytes(stale, "partial");
  write_bytes(live, "partial");
  std::ostringstream warn4;
  keep_last(d, 2, warn4);
  CHECK(list_checkpoints(d) == std::vector<std::string>{checkpoint_path(d, 100), checkpoint_path(d, 20)});
  CHECK(list_corrupt_checkpoints(d) == std::vector<std::string>{second + ".corrupt", newest + ".corrupt"});
  CHECK(read_bytes(newest + ".corrupt") == bytes.substr(0, bytes.size() / 2));
  CHECK(contains(warn4.str(), "warning: " + newest + " is corrupt (truncated or extended file: "));
  CHECK(contains(warn4.str(), "warning: " + second +
                                  " is corrupt (file checksum mismatch (the file is "
                                  "corrupt)): renamed to " +
                                  second + ".corrupt\n"));
  CHECK(!fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(dir.file("notes.txt")));
  std::ostringstream warn5;
  keep_last(d, 5, warn5);
  CHECK(list_checkpoints(d).size() == 2);
  // a checkpoint corrupted later with the same name is set aside as .corrupt-2
  save_checkpoint(small_checkpoint(1000), newest);
  flip_byte(newest, data_offset(newest, "/tensors/model/b"));
  keep_last(d, 1, warn5);
  CHECK(list_checkpoints(d) == std::vector<std::string>{checkpoint_path(d, 100)});
  CHECK(fs::exists(newest + ".corrupt-2"));
  CHECK_THROWS_WITH_AS(keep_last(d, 0, warn5), "[checkpoint] keep_last needs k ≥ 1 (got 0)", Error);
  keep_last(dir.file("none"), 3, warn5);  // nothing to do
}

TEST_CASE("checkpoint: a failed save throws, removes its temporary file and keeps the old checkpoint") {
  TempDir dir;
  std::string path = dir.file("ckpt.h5");
  Checkpoint old = small_checkpoint(1);
  save_checkpoint(old, path);
  auto only_the_old_file_remains = [&] {
    CHECK(same_checkpoint(load_checkpoint(path), old));
    int n = 0;
    for (auto& e : fs::directory_iterator(dir.path)) n += e.path().filename().string() != "not_a_dir";
    CHECK(n == 1);
  };

  // into a directory that does not exist, or under a regular file
  std::string p1 = dir.file("no_such_dir/ckpt.h5");
  std::string e1 = error_of([&] { save_checkpoint(old, p1); });
  CHECK(contains(e1, "[checkpoint] " + p1 + ": cannot save: cannot create " + p1 + ".tmp-"));
  write_bytes(dir.file("not_a_dir"), "x");
  std::string p2 = dir.file("not_a_dir/ckpt.h5");
  CHECK(contains(error_of([&] { save_checkpoint(old, p2); }), "[checkpoint] " + p2 + ": cannot save: "));
  only_the_old_file_remains();

  // bad names are rejected before anything is written
  Checkpoint bad = small_checkpoint(2);
  bad.tensors.emplace_back("a/../b", Tensor::ones({1}));
  CHECK(error_of([&] { save_checkpoint(bad, path); }) ==
        "[checkpoint] " + path +
            ": cannot save: invalid tensor name 'a/../b' (need '/'-separated non-empty "
            "parts, not '.' or '..')");
  bad = small_checkpoint(2);
  bad.tensors.emplace_back("model/w", Tensor::ones({1}));
  CHECK(error_of([&] { save_checkpoint(bad, path); }) ==
        "[checkpoint] " + path + ": cannot save: tensor name 'model/w' appears twice");
  bad = small_checkpoint(2);
  bad.meta["a/b"] = "x";
  CHECK(contains(error_of([&] { save_checkpoint(bad, path); }), "invalid meta key 'a/b'"));

  // an HDF5 failure half-way through the file ("model/w" is a dataset, so "model/w/x" cannot be created)
  bad = small_checkpoint(2);
  bad.tensors.emplace_back("model/w/x", Tensor::ones({1}));
  CHECK(contains(error_of([&] { save_checkpoint(bad, path); }),
                 "[checkpoint] " + path + ": cannot save: cannot write tensor 'model/w/x'"));
  only_the_old_file_remains();

  // a full disk: the file size limit makes writes fail with EFBIG after 64 KiB
  {
    struct FileSizeLimit {
      rlimit saved{};
      void (*old_handler)(int);
      explicit FileSizeLimit(rlim_t bytes) {
        old_handler = ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &saved);
        rlimit r = saved;
        r.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &r);
      }
      ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &saved);
        ::signal(SIGXFSZ, old_handler);
      }
    } limit(64 << 10);
    Checkpoint big = small_checkpoint(2);
    big.tensors.emplace_back("model/big", Tensor::ones({256, 1024}));
    std::string err = error_of([&] { save_checkpoint(big, path); });
    CHECK(contains(err, "[checkpoint] " + path + ": cannot save: "));
  }
  only_the_old_file_remains();
}

TEST_CASE("checkpoint: load_into lists every mismatch and copies nothing, else copies everything") {
  Checkpoint c;
  c.tensors.emplace_back("model/c", Tensor::ones({4}));
  c.tensors.emplace_back("model/b", Tensor::ones({4}));
  c.tensors.emplace_back("model/d", Tensor::ones({2}, DType::f64));
  c.tensors.emplace_back("model/e", Tensor::full({2}, 7.0));
  c.tensors.emplace_back("optim/x", Tensor::ones({9}));
  NamedTensors dst = {{"a", Tensor::zeros({2, 3})},
                      {"c", Tensor::zeros({5})},
                      {"d", Tensor::zeros({2})},
                      {"e", Tensor::zeros({2})},
                      {"f", Tensor::zeros({})}};
  CHECK(error_of([&] { load_into(dst, c, "model/"); }) ==
        "[checkpoint] 5 mismatched tensors under 'model/':\n  missing: a [2, 3]\n  missing: f []\n  "
        "unexpected: b [4]\n  shape: c checkpoint [4] vs model [5]\n  dtype: d checkpoint f64 vs model f32");
  // more than kMismatchesShown: the first five, then a count
  NamedTensors many;
  for (int i = 0; i < 46; ++i) {
    std::string name = "w";  // (not "w" + to_string(): GCC 12 emits a false -Wrestrict for that)
    name += std::to_string(100 + i);
    many.emplace_back(name, Tensor::zeros({2}));
  }
  CHECK(error_of([&] { load_into(many, Checkpoint{}, "model/"); }) ==
        "[checkpoint] 46 mismatched tensors under 'model/':\n  missing: w100 [2]\n  missing: w101 [2]\n  "
        "missing: w102 [2]\n  missing: w103 [2]\n  missing: w104 [2]\n  ... and 41 more");
  for (auto& [name, t] : dst) CHECK(t.to_vector<float>() == std::vector<float>(size_t(t.numel()), 0.0f));

  NamedTensors ok = {{"e", Tensor::zeros({2})}};
  Checkpoint c2;
  c2.tensors.emplace_back("model/e", Tensor::full({2}, 7.0));
  c2.tensors.emplace_back("optim/x", Tensor::ones({9}));
  uint64_t v0 = ok[0].second.version();
  load_into(ok, c2, "model/");
  CHECK(ok[0].second.to_vector<float>() == std::vector<float>{7, 7});
  CHECK(ok[0].second.version() > v0);
  CHECK(error_of([&] { load_into(ok, c2, ""); }) ==
        "[checkpoint] 3 mismatched tensors under '':\n  missing: e [2]\n  unexpected: model/e [2]\n  "
        "unexpected: optim/x [9]");

  // a non-contiguous destination is filled through copy_
  Tensor base = Tensor::zeros({3, 2});
  NamedTensors view = {{"v", base.transpose(0, 1)}};
  Checkpoint c3;
  c3.tensors.emplace_back("v", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
  load_into(view, c3, "");
  CHECK(base.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("checkpoint: generator state round trips, including seeds above INT64_MAX") {
  Generator g(0xfedcba9876543210ull, 3);
  g.reserve(1000);
  Json s = generator_state(g);
  CHECK(s["seed"].as_string() == "18364758544493064720");
  CHECK(s["stream"].as_int() == 3);
  CHECK(s["offset"].as_int() == 1000);
  Generator r;
  set_generator_state(r, Json::parse(s.dump()));
  CHECK(r.seed() == g.seed());
  CHECK(r.stream() == 3);
  CHECK(r.offset() == 1000);
  CHECK(r.next_u64() == g.next_u64());
  CHECK(contains(error_of([&] { set_generator_state(r, Json::parse(R"({"seed":1,"stream":0})")); }),
                 "[checkpoint] bad generator state {\"seed\":1,\"stream\":0}: missing 'offset'"));
  CHECK(
      contains(error_of([&] { set_generator_state(r, Json::parse(R"({"seed":-1,"stream":0,"offset":0})")); }),
               "'seed' is not an unsigned 64-bit integer"));
}

namespace {

TransformerConfig tiny_config(uint64_t seed) {
  TransformerConfig c;
  c.vocab_size = 64;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.d_ff = 64;
  c.max_seq_len = 16;
  c.seed = seed;
  return c;
}

// One training step on a random (2, 9) token batch; returns the loss.
double train_step(Transformer& model, AdamW& optim, Generator& data, int64_t step) {
  std::vector<int64_t> ids(2 * 9);
  for (auto& x : ids) x = int64_t(data.next_below(64));
  Tensor batch = Tensor::from_vector(ids, {2, 9});
  double lr = 1e-2 * double(step + 1) / 8.0;
  Tensor loss = model.loss(batch);
  backward(loss);
  auto [norm, scale] = clip_grad_norm(model.named_parameters(), 1.0);
  optim.step(lr, scale);
  optim.zero_grad();
  return loss.item();
}

}  // namespace

TEST_CASE("checkpoint: exact resume — 2N steps equal N steps + save + load + N steps, bitwise") {
  const int64_t N = 4;
  const AdamWConfig oc{1e-2, 0.9, 0.95, 1e-8, 0.1};
  TempDir dir;

  Transformer ref(tiny_config(7));
  AdamW ref_opt(ref.named_parameters(), oc);
  Generator ref_data(123, 1);
  std::vector<double> ref_losses;
  for (int64_t s = 0; s < 2 * N; ++s) ref_losses.push_back(train_step(ref, ref_opt, ref_data, s));

  std::vector<double> losses;
  {
    Transformer model(tiny_config(7));
    AdamW opt(model.named_parameters(), oc);
    Generator data(123, 1);
    for (int64_t s = 0; s < N; ++s) losses.push_back(train_step(model, opt, data, s));
    Checkpoint c;
    c.step = N;
    add_module(c, model);
    add_optimizer(c, opt);
    c.meta["rng.data"] = generator_state(data).dump();
    save_checkpoint(c, checkpoint_path(dir.path.string(), N));
  }
  // fresh objects with a different initialisation and data generator, then resume
  Transformer model(tiny_config(99));
  AdamW opt(model.named_parameters(), oc);
  Generator data(0, 0);
  std::ostringstream warn;
  auto found = load_newest_valid_checkpoint(dir.path.string(), warn);
  REQUIRE(found.has_value());
  const Checkpoint& c = found->second;
  load_module(model, c);
  load_optimizer(opt, c);
  set_generator_state(data, Json::parse(c.meta.at("rng.data")));
  CHECK(opt.steps() == N);
  for (int64_t s = c.step; s < 2 * N; ++s) losses.push_back(train_step(model, opt, data, s));

  REQUIRE(losses.size() == ref_losses.size());
  for (size_t i = 0; i < losses.size(); ++i) {
    CAPTURE(i);
    CHECK(std::bit_cast<uint64_t>(losses[i]) == std::bit_cast<uint64_t>(ref_losses[i]));
  }
  CHECK(ref_losses[2 * N - 1] != ref_losses[N - 1]);
  NamedTensors a = ref.named_parameters(), b = model.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(bitwise_equal(a[i].second, b[i].second));
  }
  NamedTensors sa = ref_opt.state(), sb = opt.state();
  for (size_t i = 0; i < sa.size(); ++i) CHECK(bitwise_equal(sa[i].second, sb[i].second));
  CHECK(opt.steps() == ref_opt.steps());
  CHECK(data.offset() == ref_data.offset());

  // a checkpoint of another model shape is refused with the list of mismatched tensors
  TransformerConfig other = tiny_config(7);
  other.d_ff = 48;
  Transformer wrong(other);
  std::string err = error_of([&] { load_module(wrong, c); });
  CHECK(contains(
      err,
      "[checkpoint] 6 mismatched tensors under 'model/':\n  shape: model.layers.0.mlp.gate_proj.weight "
      "checkpoint [64, 32] vs model [48, 32]"));
}

TEST_CASE("checkpoint: module state includes buffers (SRA router thresholds) and round trips") {
  TransformerConfig cfg = tiny_config(1);
  cfg.n_layers = 3;
  cfg.attention = "sra";
  Transformer a(cfg);
  NamedTensors buffers = a.named_buffers();
  REQUIRE(!buffers.empty());
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].second.fill_(0.25 + double(i));
  NamedTensors state = module_state(a);
  CHECK(state.size() == a.named_parameters().size() + buffers.size());
  TempDir dir;
  Checkpoint c;
  add_module(c, a);
  save_checkpoint(c, dir.file("sra.h5"));
  cfg.seed = 2;
  Transformer b(cfg);
  load_module(b, load_checkpoint(dir.file("sra.h5")));
  NamedTensors sb = module_state(b);
  REQUIRE(sb.size() == state.size());
  for (size_t i = 0; i < state.size(); ++i) {
    CAPTURE(state[i].first);
    CHECK(sb[i].first == state[i].first);
    CHECK(bitwise_equal(sb[i].second, state[i].second));
  }
}

TEST_CASE("checkpoint: a save killed after writing its temporary file leaves the old checkpoint in place") {
  TempDir dir;
  std::string path = checkpoint_path(dir.path.string(), 1);
  Checkpoint old = small_checkpoint(1);
  save_checkpoint(old, path);
  Checkpoint next = small_checkpoint(2);
  next.tensors.emplace_back("model/big", Tensor::ones({256, 256}));
  for (int round = 0; round < 3; ++round) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::setenv("SRA_TEST_KILL_IN_SAVE", "before-rename", 1);
      save_checkpoint(next, path);
      ::_exit(0);  // not reached: the hook kills the process inside the save
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    // the kill landed mid-save: the complete temporary file is there, the rename never happened
    const std::string tmp = path + ".tmp-" + std::to_string(pid);
    REQUIRE(fs::exists(tmp));
    CHECK(same_checkpoint(load_checkpoint(tmp), next));
    CHECK(same_checkpoint(load_checkpoint(path), old));
  }
  std::ostringstream warn;
  keep_last(dir.path.string(), 1, warn);  // the dead writers' temporary files go
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("checkpoint: a process killed while saving leaves the previous checkpoint loadable") {
  TempDir dir;
  std::string path = checkpoint_path(dir.path.string(), 1);
  Checkpoint old = small_checkpoint(1);
  save_checkpoint(old, path);
  Checkpoint big = small_checkpoint(2);  // built before fork: the child touches no thread pool
  big.tensors.emplace_back("model/big", Tensor::ones({1024, 1024}));
  // A child saves a 4 MB checkpoint over the same path again and again; the parent SIGKILLs it at a few
  // points in time. Whenever it dies, `path` must hold a complete, valid checkpoint: the old one or the
  // child's (the rename is atomic), never a torn file.
  int saw_new = 0;
  for (int delay_ms : {1, 7, 23, 61, 150}) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (;;) save_checkpoint(big, path);
    }
    ::usleep(useconds_t(delay_ms) * 1000);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    Checkpoint now = load_checkpoint(path);  // throws on a torn file
    CHECK((now.step == 1 || now.step == 2));
    if (now.step == 1) CHECK(same_checkpoint(now, old));
    if (now.step == 2) CHECK(same_checkpoint(now, big));
    saw_new += now.step == 2;
  }
  INFO("kills after which the child's checkpoint was in place: " << saw_new);
  // the killed writers' temporary files are removed by keep_last; the checkpoint is found as valid
  std::ostringstream warn_keep;
  keep_last(dir.path.string(), 1, warn_keep);
  CHECK(warn_keep.str().empty());
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
  std::ostringstream warn;
  CHECK(newest_valid_checkpoint(dir.path.string(), warn) == path);
  CHECK(warn.str().empty());
}
