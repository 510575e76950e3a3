// Safetensors (run/safetensors.h): round trips through our writer in F32 / BF16 / F16, hand-made corrupt
// and truncated files (each an error naming the problem, never an out-of-bounds read), and a
// deterministic fuzz of the header parser (random mutations of a valid header: a clean sra::Error or a
// parse whose every span lies inside the data section).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "data_test_util.h"
#include "run/safetensors.h"

using sra::testing::temp_dir;

namespace {

std::string st_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const sra::Error& e) {
    return e.what();
  }
  return "";
}

// A file of the 8-byte length, `header` and `data` bytes (length given or header.size()).
std::string hand_made(const std::string& name, const std::string& header, size_t data_bytes,
                      int64_t length = -1) {
  std::string path = (temp_dir("st") / name).string();
  std::ofstream out(path, std::ios::binary);
  uint64_t n = length < 0 ? header.size() : uint64_t(length);
  for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
  out << header << std::string(data_bytes, '\0');
  return path;
}

}  // namespace

TEST_CASE("safetensors: write and read back F32, BF16 and F16 with metadata") {
  using namespace sra;
  Tensor a = Tensor::from_vector<float>({1.f, -2.5f, 3.25f, 1e-3f, 65504.f, -0.f}, {2, 3});
  Tensor b = Tensor::from_vector<float>({0.1f, 0.2f, 0.3f, 0.4f}, {4});
  Tensor empty = Tensor::empty({0, 3});
  std::string path = (temp_dir("st") / "rt.safetensors").string();
  write_safetensors(
      path,
      {{"a", a, "F32"}, {"a.bf16", a, "BF16"}, {"a.f16", a, "F16"}, {"b", b, "F16"}, {"e", empty, "F32"}},
      {{"format", "pt"}});
  auto f = SafetensorsFile::open(path);
  CHECK(f->metadata().at("format") == "pt");
  REQUIRE(f->entries().size() == 5);
  CHECK(f->at("a").shape == Shape{2, 3});
  CHECK(f->read(f->at("a")).to_vector<float>() == a.to_vector<float>());
  std::vector<float> rb = f->read(f->at("a.bf16")).to_vector<float>();
  std::vector<float> rh = f->read(f->at("a.f16")).to_vector<float>();
  std::vector<float> av = a.to_vector<float>();
  for (size_t i = 0; i < av.size(); ++i) {
    CHECK(rb[i] == float(bf16(av[i])));
    CHECK(std::fabs(rh[i] - av[i]) <= std::fabs(av[i]) * 1e-3f);
  }
  CHECK(f->read(f->at("b"), DType::f64).to_vector<double>()[0] == doctest::Approx(0.1).epsilon(1e-3));
  CHECK(f->at("e").begin == f->at("e").end);
  CHECK(st_error([&] { f->at("missing"); }).find("no tensor 'missing'") != std::string::npos);
  Tensor wrong = Tensor::empty({5});
  CHECK(st_error([&] { f->read_into(f->at("a"), wrong); }).find("tensor 'a': has 6 elements") !=
        std::string::npos);
}

TEST_CASE("safetensors: f16 conversion is exact on representable values and rounds to nearest even") {
  using namespace sra;
  for (float v : {0.f, 1.f, -2.f, 0.5f, 65504.f, 6.103515625e-05f, 5.960464477539063e-08f, -1025.f})
    CHECK(f16_to_float(float_to_f16(v)) == v);
  CHECK(std::isinf(f16_to_float(float_to_f16(1e6f))));
  CHECK(std::isnan(f16_to_float(float_to_f16(NAN))));
  CHECK(f16_to_float(float_to_f16(1.f + 1.f / 2048.f)) == 1.f);  // halfway: to even
  CHECK(f16_to_float(float_to_f16(1.f + 3.f / 2048.f)) == 1.f + 2.f / 1024.f);
  CHECK(f16_to_float(float_to_f16(1.f + 3.f / 4096.f)) == 1.f + 1.f / 1024.f);
  for (uint32_t h = 0; h < 0x7c00u; ++h) CHECK(float_to_f16(f16_to_float(uint16_t(h))) == h);
}

TEST_CASE("safetensors: corrupt and truncated files are errors naming the problem") {
  using namespace sra;
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  CHECK(st_error([&] { SafetensorsFile::open(hand_made("ok.st", ok, 16)); }) == "");
  struct Case {
    std::string name, header;
    size_t data;
    int64_t length;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"trunc_data", ok, 12, -1, "tensor 'w': data_offsets [0, 16] run past the data section (12 bytes)"},
      {"long_len", ok, 16, 1 << 20, "header length 1048576 exceeds the file's"},
      {"huge_len", ok, 16, int64_t(1) << 62, "exceeds the file's"},
      {"bad_json", R"({"w":{"dtype":"F32",)", 0, -1, "header is not valid JSON"},
      {"not_obj", "[1,2]", 0, -1, "header must be a JSON object, got array"},
      {"dtype", R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1, -1,
       "tensor 'w': unknown dtype 'Q4'"},
      {"span", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, -1,
       "tensor 'w': shape [3] of F32 is 12 bytes, but data_offsets span 8"},
      {"neg_shape", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, -1,
       "tensor 'w': shape entries must be integers >= 0, got -1"},
      {"overflow", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4, -1,
       "tensor 'w': shape [4294967296, 4294967296] of F32 is too many bytes"},
      {"reversed", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8, -1,
       "tensor 'w': data_offsets [8, 4] are not an increasing pair"},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, -1, "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
      {"extra_key", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4, -1,
       "tensor 'w': unknown key 'x'"},
      {"offsets", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, -1,
       "tensor 'w': 'data_offsets' must be two integers"},
      {"meta", R"({"__metadata__":{"a":1}})", 0, -1, "__metadata__ value of 'a' must be a string"},
      {"dup", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{}})", 4, -1, "not valid JSON"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::string err =
        st_error([&] { SafetensorsFile::open(hand_made(c.name + ".st", c.header, c.data, c.length)); });
    CHECK(err.rfind("[safetensors] ", 0) == 0);
    CHECK(err.find(c.want) != std::string::npos);
  }
  std::string tiny = (temp_dir("st") / "tiny.st").string();
  std::ofstream(tiny) << "abc";
  CHECK(st_error([&] { SafetensorsFile::open(tiny); }).find("too short for the 8-byte header length") !=
        std::string::npos);
  CHECK(st_error([&] { SafetensorsFile::open(tiny + ".missing"); }).find("cannot open") != std::string::npos);
  // a dtype we can map but not convert is refused when read, naming the tensor
  auto f = SafetensorsFile::open(
      hand_made("i64.st", R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8));
  CHECK(st_error([&] { f->read(f->at("ids")); }).find("tensor 'ids': dtype I64 is not supported") !=
        std::string::npos);
}

TEST_CASE("safetensors: fuzzed headers parse cleanly or fail with sra::Error") {
  using namespace sra;
  const std::string base =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]},"c":{"dtype":"F16","shape":[],"data_offsets":[28,30]}})";
  const uint64_t data_size = 30;
  REQUIRE(parse_safetensors_header(base, data_size, "fuzz").entries.size() == 3);
  std::mt19937_64 rng(12345);
  const std::string alphabet = "{}[],:\"0123456789-eE.FBI168 \\u_abcdtypeshaofs";
  int parsed = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string h = base;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = h.empty() ? 0 : rng() % h.size();
      switch (rng() % 4) {
        case 0:
          if (!h.empty()) h[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          h.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          if (!h.empty()) h.erase(pos, 1 + rng() % 3);
          break;
        default:
          h = h.substr(0, pos);  // truncation
      }
    }
    try {
      SafetensorsHeader hd = parse_safetensors_header(h, data_size, "fuzz");
      for (const SafetensorsEntry& en : hd.entries) {
        REQUIRE(en.begin <= en.end);
        REQUIRE(en.end <= data_size);
        REQUIRE(uint64_t(shape_numel(en.shape)) * safetensors_dtype_size(en.dtype) == en.end - en.begin);
      }
      ++parsed;
    } catch (const Error& err) {
      REQUIRE(std::string(err.what()).rfind("[safetensors] fuzz: ", 0) == 0);
      ++refused;
    }
  }
  CHECK(parsed > 0);
  CHECK(refused > 0);
}
