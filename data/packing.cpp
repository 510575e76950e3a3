// Packing (stream → stride-T rows of T+1 tokens), batches, token shard I/O and the epoch sampler.
#include "data/packing.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/check.h"
#include "core/crc32c.h"
#include "core/rng.h"

namespace sra {

namespace {

constexpr size_t kHeaderBytes = 36;
constexpr uint32_t kMaxHashLen = 256;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += char((v >> (8 * i)) & 0xff);
}

uint64_t get_le(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(in[at + size_t(i)])) << (8 * i);
  return v;
}

uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t int_field(const Json& j, const char* key, const char* what) {
  const Json* v = j.find(key);
  SRA_CHECK(v != nullptr && v->is_int(), "[data] ", what, ": missing integer field '", key, "' in ",
            j.dump());
  return v->as_int();
}

}  // namespace

// ---- streams, rows, batches --------------------------------------------------------------------

TokenStream concat_examples(const std::vector<TokenizedExample>& examples, int32_t eos_id,
                            int64_t align_seq_len, int32_t pad_id) {
  SRA_CHECK(align_seq_len >= 0, "[data] concat_examples: align_seq_len must be >= 0, got ", align_seq_len);
  const size_t T = size_t(align_seq_len);
  TokenStream s;
  for (size_t e = 0; e < examples.size(); ++e) {
    const TokenizedExample& ex = examples[e];
    SRA_CHECK(ex.ids.size() == ex.mask.size(), "[data] example ", e, " has ", ex.ids.size(), " ids but ",
              ex.mask.size(), " mask values");
    if (ex.ids.empty()) continue;
    const size_t n = ex.ids.size() + (ex.ids.back() != eos_id ? 1 : 0);
    const size_t p = s.ids.size();
    if (T > 0 && n <= T + 1 && p + n - 1 > (p / T) * T + T) {  // would cross its row's end: next row
      const size_t next = (p / T + 1) * T;
      s.ids.resize(next, pad_id);
      s.mask.resize(next, 0);
    }
    s.ids.insert(s.ids.end(), ex.ids.begin(), ex.ids.end());
    s.mask.insert(s.mask.end(), ex.mask.begin(), ex.mask.end());
    if (ex.ids.back() != eos_id) {
      s.ids.push_back(eos_id);
      s.mask.push_back(ex.mask.back());
    }
  }
  return s;
}

PackedRows::PackedRows(std::shared_ptr<const TokenStream> stream, int64_t seq_len, int32_t pad_id,
                       RowsWithoutTargets without_targets)
    : stream_(std::move(stream)), seq_len_(seq_len), pad_id_(pad_id) {
  SRA_CHECK(stream_ != nullptr, "[data] PackedRows: no stream");
  SRA_CHECK(seq_len_ >= 1, "[data] PackedRows: seq_len must be >= 1, got ", seq_len_);
  SRA_CHECK(pad_id_ >= 0, "[data] PackedRows: pad id must be >= 0, got ", pad_id_);
  SRA_CHECK(stream_->ids.size() == stream_->mask.size(), "[data] PackedRows: stream has ",
            stream_->ids.size(), " ids but ", stream_->mask.size(), " mask values");
  int64_t n = stream_->size();
  num_rows_ = n >= 2 ? (n - 1 + seq_len_ - 1) / seq_len_ : 0;
  if (without_targets == RowsWithoutTargets::keep) return;
  const std::vector<uint8_t>& mask = stream_->mask;
  for (int64_t r = 0; r < num_rows_; ++r) {
    const int64_t first = r * seq_len_ + 1, last = std::min(n, r * seq_len_ + seq_len_ + 1);
    bool has_target = false;
    for (int64_t k = first; k < last && !has_target; ++k) has_target = mask[size_t(k)] != 0;
    if (has_target) kept_.push_back(r);
  }
  skipped_rows_ = num_rows_ - int64_t(kept_.size());
  num_rows_ = int64_t(kept_.size());
}

void PackedRows::row(int64_t r, int32_t* ids, uint8_t* mask) const {
  SRA_CHECK(r >= 0 && r < num_rows_, "[data] row ", r, " out of range [0, ", num_rows_, ")");
  const int64_t n = stream_->size();
  const int64_t start = (kept_.empty() ? r : kept_[size_t(r)]) * seq_len_;
  for (int64_t t = 0; t <= seq_len_; ++t) {
    int64_t k = start + t;
    if (k < n) {
      ids[t] = stream_->ids[size_t(k)];
      mask[t] = stream_->mask[size_t(k)];
    } else {
      ids[t] = pad_id_;
      mask[t] = 0;
    }
  }
}

PackedRows pack_examples(const std::vector<TokenizedExample>& examples, int64_t seq_len, int32_t eos_id,
                         int32_t pad_id) {
  auto stream = std::make_shared<TokenStream>(concat_examples(examples, eos_id));
  return PackedRows(std::move(stream), seq_len, pad_id);
}

Batch make_batch(const PackedRows& rows, const std::vector<int64_t>& indices, int64_t ignore_index) {
  const int64_t B = int64_t(indices.size()), T = rows.seq_len();
  Batch b;
  b.inputs = Tensor::empty({B, T}, DType::i64);
  b.targets = Tensor::empty({B, T}, DType::i64);
  b.loss_mask = Tensor::empty({B, T}, DType::u8);
  int64_t* in = b.inputs.data<int64_t>();
  int64_t* tg = b.targets.data<int64_t>();
  uint8_t* lm = b.loss_mask.data<uint8_t>();
  std::vector<int32_t> ids(size_t(T + 1));
  std::vector<uint8_t> mask(size_t(T + 1));
  for (int64_t i = 0; i < B; ++i) {
    rows.row(indices[size_t(i)], ids.data(), mask.data());
    for (int64_t t = 0; t < T; ++t) {
      in[i * T + t] = ids[size_t(t)];
      lm[i * T + t] = mask[size_t(t + 1)];
      tg[i * T + t] = mask[size_t(t + 1)] ? int64_t(ids[size_t(t + 1)]) : ignore_index;
    }
  }
  return b;
}

// ---- token shards ------------------------------------------------------------------------------

void write_token_shard(const std::string& path, const TokenStream& stream, int64_t vocab_size,
                       const std::string& tokenizer_hash) {
  SRA_CHECK(vocab_size >= 1 && vocab_size <= (int64_t(1) << 32), "[data] shard '", path,
            "': vocab size must be in [1, 2^32], got ", vocab_size);
  SRA_CHECK(tokenizer_hash.size() <= kMaxHashLen, "[data] shard '", path, "': tokenizer hash longer than ",
            kMaxHashLen, " bytes");
  SRA_CHECK(stream.ids.size() == stream.mask.size(), "[data] shard '", path, "': ", stream.ids.size(),
            " ids but ", stream.mask.size(), " mask values");
  const int id_bytes = vocab_size <= 65536 ? 2 : 4;
  const size_t n = stream.ids.size();
  std::string buf;
  buf.reserve(kHeaderBytes + tokenizer_hash.size() + n * size_t(id_bytes + 1));
  buf.append(kShardMagic, 8);
  put_le(buf, kShardVersion, 4);
  put_le(buf, uint64_t(id_bytes), 4);
  put_le(buf, n, 8);
  put_le(buf, uint64_t(vocab_size), 8);
  put_le(buf, tokenizer_hash.size(), 4);
  buf += tokenizer_hash;
  for (size_t i = 0; i < n; ++i) {
    int32_t id = stream.ids[i];
    SRA_CHECK(id >= 0 && id < vocab_size, "[data] shard '", path, "': token id ", id, " at position ", i,
              " is outside [0, ", vocab_size, ")");
    put_le(buf, uint64_t(uint32_t(id)), id_bytes);
  }
  for (size_t i = 0; i < n; ++i) {
    SRA_CHECK(stream.mask[i] <= 1, "[data] shard '", path, "': mask value ", int(stream.mask[i]),
              " at position ", i, " is not 0 or 1");
  }
  buf.append(reinterpret_cast<const char*>(stream.mask.data()), n);
  put_le(buf, crc32c(buf.data(), buf.size()), 4);  // version 2: the checksum of everything before it

  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    SRA_CHECK(!ec, "[data] shard '", path, "': cannot create directory: ", ec.message());
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SRA_CHECK(out.good(), "[data] shard '", path, "': cannot open '", tmp, "' for writing");
    out.write(buf.data(), std::streamsize(buf.size()));
    out.flush();
    SRA_CHECK(out.good(), "[data] shard '", path, "': write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  SRA_CHECK(!ec, "[data] shard '", path, "': cannot rename '", tmp, "': ", ec.message());
}

TokenShard read_token_shard(const std::string& path, const std::string& expected_hash) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[data] shard '", path, "': cannot open");
  std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string where = "[data] shard '" + path + "': ";
  SRA_CHECK(buf.size() >= 8 && std::memcmp(buf.data(), kShardMagic, 8) == 0, where,
            "bad magic (not an SRA token shard)");
  SRA_CHECK(buf.size() >= kHeaderBytes, where, "truncated header (", buf.size(), " bytes)");
  const uint64_t version = get_le(buf, 8, 4);
  SRA_CHECK(version == 1 || version == kShardVersion, where, "unsupported version ", version,
            " (this build reads 1 and ", kShardVersion, ")");
  const uint64_t crc_bytes = version >= 2 ? 4 : 0;  // version 1 shards carry no checksum
  const uint64_t id_bytes = get_le(buf, 12, 4);
  SRA_CHECK(id_bytes == 2 || id_bytes == 4, where, "bad id size ", id_bytes, " (expected 2 or 4)");
  const uint64_t count = get_le(buf, 16, 8);
  const uint64_t vocab = get_le(buf, 24, 8);
  SRA_CHECK(vocab >= 1 && vocab <= (uint64_t(1) << 32), where, "bad vocab size ", vocab);
  const uint64_t hash_len = get_le(buf, 32, 4);
  SRA_CHECK(hash_len <= kMaxHashLen, where, "bad tokenizer hash length ", hash_len);
  SRA_CHECK(count <= (uint64_t(1) << 40), where, "bad token count ", count);
  const uint64_t expected = kHeaderBytes + hash_len + count * (id_bytes + 1) + crc_bytes;
  SRA_CHECK(buf.size() >= expected, where, "truncated: header says ", count, " tokens (", expected,
            " bytes) but the file has ", buf.size(), " bytes");
  SRA_CHECK(buf.size() == expected, where, buf.size() - expected, " unexpected trailing bytes after ", count,
            " tokens");

  TokenShard shard;
  shard.vocab_size = int64_t(vocab);
  shard.id_bytes = int(id_bytes);
  shard.tokenizer_hash = buf.substr(kHeaderBytes, hash_len);
  if (!expected_hash.empty()) {
    SRA_CHECK(shard.tokenizer_hash == expected_hash, where, "tokenizer hash '", shard.tokenizer_hash,
              "' does not match '", expected_hash, "'");
  }
  const size_t ids_at = kHeaderBytes + hash_len;
  const size_t mask_at = ids_at + count * id_bytes;
  shard.stream.ids.resize(count);
  shard.stream.mask.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = get_le(buf, ids_at + i * id_bytes, int(id_bytes));
    SRA_CHECK(id < vocab, where, "token id ", id, " at position ", i, " is >= vocab size ", vocab);
    shard.stream.ids[i] = int32_t(id);
    uint8_t m = static_cast<uint8_t>(buf[mask_at + i]);
    SRA_CHECK(m <= 1, where, "mask value ", int(m), " at position ", i, " is not 0 or 1");
    shard.stream.mask[i] = m;
  }
  if (crc_bytes > 0) {
    const uint32_t want = uint32_t(get_le(buf, expected - 4, 4)), have = crc32c(buf.data(), expected - 4);
    SRA_CHECK(have == want, where, "checksum mismatch (the file is corrupt; run sra data prepare again)");
  }
  return shard;
}

// ---- sampler -----------------------------------------------------------------------------------

Json SamplerCursor::to_json() const {
  return Json::object({{"epoch", epoch}, {"position", position}});
}

SamplerCursor SamplerCursor::from_json(const Json& j) {
  SRA_CHECK(j.is_object(), "[data] sampler cursor: expected a JSON object, got ", Json::type_name(j.type()));
  SamplerCursor c;
  c.epoch = int_field(j, "epoch", "sampler cursor");
  c.position = int_field(j, "position", "sampler cursor");
  SRA_CHECK(c.epoch >= 0 && c.position >= 0, "[data] sampler cursor: negative epoch or position in ",
            j.dump());
  return c;
}

SequenceSampler::SequenceSampler(int64_t num_sequences, uint64_t seed, int64_t world_size, int64_t rank)
    : num_sequences_(num_sequences), seed_(seed), world_size_(world_size), rank_(rank) {
  SRA_CHECK(world_size_ >= 1, "[data] sampler: world size must be >= 1, got ", world_size_);
  SRA_CHECK(rank_ >= 0 && rank_ < world_size_, "[data] sampler: rank ", rank_,
            " out of range for world size ", world_size_);
  SRA_CHECK(num_sequences_ >= world_size_, "[data] sampler: ", num_sequences_,
            " sequences are too few for world size ", world_size_);
}

std::vector<int64_t> SequenceSampler::epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  Generator g(mix64(seed ^ 0x5eed5a3b1e5ull), uint64_t(epoch));
  for (int64_t i = n - 1; i >= 1; --i) {
    int64_t j = int64_t(g.next_below(uint64_t(i + 1)));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

int64_t SequenceSampler::next() {
  if (cursor_.position >= per_rank()) {
    ++cursor_.epoch;
    cursor_.position = 0;
  }
  if (order_epoch_ != cursor_.epoch) {
    order_ = epoch_order(num_sequences_, seed_, cursor_.epoch);
    order_epoch_ = cursor_.epoch;
  }
  int64_t idx = order_[size_t(cursor_.position * world_size_ + rank_)];
  ++cursor_.position;
  return idx;
}

std::vector<int64_t> SequenceSampler::next_batch(int64_t n) {
  SRA_CHECK(n >= 0, "[data] sampler: batch size must be >= 0, got ", n);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = next();
  return out;
}

void SequenceSampler::set_cursor(const SamplerCursor& c) {
  SRA_CHECK(c.epoch >= 0 && c.position >= 0 && c.position <= per_rank(), "[data] sampler: cursor {epoch ",
            c.epoch, ", position ", c.position, "} out of range (", per_rank(),
            " sequences per rank per epoch)");
  cursor_ = c;
}

Json SequenceSampler::state() const {
  Json j = cursor_.to_json();
  j.set("num_sequences", num_sequences_);
  j.set("world_size", world_size_);
  j.set("rank", rank_);
  j.set("seed", std::to_string(seed_));
  return j;
}

void SequenceSampler::load_state(const Json& j) {
  SamplerCursor c = SamplerCursor::from_json(j);
  const char* what = "sampler state";
  int64_t n = int_field(j, "num_sequences", what);
  int64_t w = int_field(j, "world_size", what);
  int64_t r = int_field(j, "rank", what);
  const Json* s = j.find("seed");
  SRA_CHECK(s != nullptr && s->is_string(), "[data] sampler state: missing string field 'seed'");
  SRA_CHECK(n == num_sequences_, "[data] sampler state was saved for ", n, " sequences, this run has ",
            num_sequences_);
  SRA_CHECK(w == world_size_ && r == rank_, "[data] sampler state was saved for rank ", r, " of ", w,
            ", this run is rank ", rank_, " of ", world_size_);
  SRA_CHECK(s->as_string() == std::to_string(seed_), "[data] sampler state was saved with seed ",
            s->as_string(), ", this run has ", seed_);
  set_cursor(c);
}

}  // namespace sra
