// From tokenized examples to training batches: concatenation, fixed-length rows, token shards on disk,
// and a deterministic, resumable, rank-sliced sampler.
//
// Stream: concat_examples joins examples' ids and masks; an example that does not already end with EOS
//   gets one appended (its mask copies the example's last mask value). Aligned (align_seq_len = T): an
//   example that would straddle a row boundary is moved to the next row's start after PAD, mask 0.
// Rows:   PackedRows views a stream as rows of T+1 tokens at stride T: row r = stream[r·T, r·T + T], so
//   consecutive rows overlap by one token and every stream token but the first is a target (position
//   1..T of a row) exactly once. rows = ceil((n - 1) / T) for n >= 2 tokens, else 0. The last row is
//   filled up with PAD, mask 0. Rows cross example boundaries (an example may be split across rows).
//   RowsWithoutTargets::skip (the trainer's choice) leaves out the rows whose T target positions
//   (1..T) all have mask 0 — e.g. a row inside a long prompt when seq_len is short: such a row adds a
//   loss of 0 and no gradient but takes a schedule step; skipped_rows() counts them, and num_rows()
//   and row(r) then run over the kept rows in stream order.
// Batch:  make_batch(rows, indices) → inputs (B, T) i64 = row[0, T), targets (B, T) i64 = row[1, T]
//   with ignore_index where the mask is 0, loss_mask (B, T) u8 = mask[1, T].
//
// Token shard file (.tok), all integers little-endian:
//   offset  size        field
//   0       8           magic "SRATOK1\0"
//   8       4           u32 version = 2 (1: the same without the checksum; still read)
//   12      4           u32 bytes per id: 2 (u16, when vocab_size <= 65536) or 4 (u32)
//   16      8           u64 count: number of tokens
//   24      8           u64 vocab_size
//   32      4           u32 hash_len (<= 256)
//   36      hash_len    tokenizer hash (Tokenizer::hash(), no terminator)
//   ...     count·2|4   token ids
//   ...     count       loss mask, one u8 (0 or 1) per token
//   ...     4           u32 CRC-32C (core/crc32c.h) of every byte before it (version 2 only)
//   The file ends there: its size must be exactly 36 + hash_len + count·(bytes per id + 1) + 4 (version
//   1: without the 4).
//   read_token_shard checks all of it: "[data] shard 'FILE': bad magic ...", "... truncated ...",
//   "... token id X at position P is >= vocab size V", "... mask value X at position P ...", and, when
//   expected_hash is given, "... tokenizer hash 'a' does not match 'b'"; last the checksum, "... checksum
//   mismatch (the file is corrupt; run sra data prepare again)". Writes go to FILE.tmp, renamed
//   into place when complete.
//
// Sampler: epoch e visits sequences in the order of a Fisher–Yates shuffle of [0, N) drawn from
//   Generator(mix(seed), stream = e), a function of (seed, e) only. Rank r of W takes positions
//   r, r + W, r + 2W, ... of that order: per_rank() = N / W sequences per epoch for every rank (the last
//   N mod W positions of each epoch's order are skipped; they differ from epoch to epoch). The cursor
//   {epoch, position} counts what this rank has taken; saving it (JSON) and restoring it into a sampler
//   with the same (N, seed, W, r) continues exactly where the first one stopped.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/tensor.h"
#include "data/example.h"

namespace sra {

struct TokenStream {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  int64_t size() const { return int64_t(ids.size()); }
};

// align_seq_len = T > 0: an example of n <= T + 1 tokens (its EOS included) that would cross the end of
// the row it starts in (rows of T + 1 tokens at stride T, as PackedRows reads them) starts the next row
// instead, the gap filled with pad_id, mask 0: every such example lies whole in one row.
TokenStream concat_examples(const std::vector<TokenizedExample>& examples, int32_t eos_id,
                            int64_t align_seq_len = 0, int32_t pad_id = 0);

enum class RowsWithoutTargets { keep, skip };

class PackedRows {
 public:
  PackedRows(std::shared_ptr<const TokenStream> stream, int64_t seq_len, int32_t pad_id,
             RowsWithoutTargets without_targets = RowsWithoutTargets::keep);
  int64_t num_rows() const { return num_rows_; }
  int64_t skipped_rows() const { return skipped_rows_; }  // rows left out for having no target
  int64_t seq_len() const { return seq_len_; }            // T; a row holds T + 1 tokens
  int32_t pad_id() const { return pad_id_; }
  const TokenStream& stream() const { return *stream_; }
  // Copies row r's T + 1 ids and mask values.
  void row(int64_t r, int32_t* ids, uint8_t* mask) const;

 private:
  std::shared_ptr<const TokenStream> stream_;
  int64_t seq_len_;
  int32_t pad_id_;
  int64_t num_rows_;
  int64_t skipped_rows_ = 0;
  std::vector<int64_t> kept_;  // with skip: the stride-T row index of each kept row (else empty)
};

PackedRows pack_examples(const std::vector<TokenizedExample>& examples, int64_t seq_len, int32_t eos_id,
                         int32_t pad_id);

struct Batch {
  Tensor inputs;     // (B, T) i64
  Tensor targets;    // (B, T) i64, ignore_index where loss_mask is 0
  Tensor loss_mask;  // (B, T) u8
};

Batch make_batch(const PackedRows& rows, const std::vector<int64_t>& indices, int64_t ignore_index = -100);

// ---- token shards ------------------------------------------------------------------------------
inline constexpr char kShardMagic[8] = {'S', 'R', 'A', 'T', 'O', 'K', '1', '\0'};
inline constexpr uint32_t kShardVersion = 2;

struct TokenShard {
  TokenStream stream;
  int64_t vocab_size = 0;
  std::string tokenizer_hash;
  int id_bytes = 0;  // 2 or 4, as stored
};

// Throws "[data] shard 'FILE': ..." when an id is outside [0, vocab_size), a mask value is not 0/1, the
// ids and mask differ in length, or the file cannot be written.
void write_token_shard(const std::string& path, const TokenStream& stream, int64_t vocab_size,
                       const std::string& tokenizer_hash);
TokenShard read_token_shard(const std::string& path, const std::string& expected_hash = "");

// ---- sampler -----------------------------------------------------------------------------------
struct SamplerCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // sequences this rank has taken in `epoch`, in [0, per_rank]
  Json to_json() const;  // {"epoch": e, "position": p}
  static SamplerCursor from_json(const Json& j);  // "[data] sampler cursor: ..." on bad input
  bool operator==(const SamplerCursor& o) const { return epoch == o.epoch && position == o.position; }
};

class SequenceSampler {
 public:
  SequenceSampler(int64_t num_sequences, uint64_t seed, int64_t world_size = 1, int64_t rank = 0);

  int64_t num_sequences() const { return num_sequences_; }
  int64_t per_rank() const { return num_sequences_ / world_size_; }
  int64_t world_size() const { return world_size_; }
  int64_t rank() const { return rank_; }
  uint64_t seed() const { return seed_; }

  int64_t next();  // moves to the next epoch after per_rank() sequences
  std::vector<int64_t> next_batch(int64_t n);

  const SamplerCursor& cursor() const { return cursor_; }
  void set_cursor(const SamplerCursor& c);  // position must be in [0, per_rank]
  // The cursor plus what it is only valid for: {"epoch", "position", "num_sequences", "world_size",
  // "rank", "seed" (decimal string)}; load_state refuses a state saved for other values.
  Json state() const;
  void load_state(const Json& j);

  // Epoch e's order of [0, n).
  static std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

 private:
  int64_t num_sequences_;
  uint64_t seed_;
  int64_t world_size_;
  int64_t rank_;
  SamplerCursor cursor_;
  std::vector<int64_t> order_;  // epoch order_epoch_'s order, computed on demand
  int64_t order_epoch_ = -1;
};

}  // namespace sra
