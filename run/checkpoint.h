// Checkpoints: HDF5 files (C API, 1.10 file format) holding named tensors of any dtype, string metadata
// and the step; written atomically, every byte covered by a checksum that load_checkpoint verifies.
//
// File layout (format "sra-checkpoint", version 1):
//   bytes 0..511        the HDF5 user block, holding the seal: "SRACKPT1", the file size (u64 LE) and the
//                       CRC-32C of every byte after the block (u32 LE). load_checkpoint verifies it before
//                       HDF5 opens the file, so corrupt or truncated files never reach HDF5's parser.
//   /                   attributes: format = "sra-checkpoint" (string), format_version = 1 (int64),
//                       step (int64), manifest_crc32c (uint32: CRC-32C of the /manifest bytes).
//   /manifest           scalar string dataset, JSON: {"step": N, "tensors": [{"name", "dtype", "shape",
//                       "crc32c"}, ...] in the Checkpoint's order, "meta": {"key": crc32c, ...}} — the
//                       names and checksums of everything else, so the manifest checksum covers the file.
//   /tensors/<name>     one contiguous, unfiltered dataset per tensor; a '/' in the name makes groups
//                       ("model/model.norm.weight" → /tensors/model/model.norm.weight). File types:
//                       f32 IEEE_F32LE, f64 IEEE_F64LE, bf16 STD_U16LE (the raw bits), i32 STD_I32LE,
//                       i64 STD_I64LE, u8 STD_U8LE. 0-d tensors have a scalar dataspace, empty tensors a
//                       zero extent. Attributes: dtype (string "f32", "bf16", ...), shape (int64[ndim]; a
//                       null dataspace when ndim = 0), crc32c (uint32, of the raw little-endian bytes).
//   /meta/<key>         one scalar string dataset per metadata entry (datasets, not attributes, so that
//                       values over 64 KiB such as resolved configs fit); attribute crc32c of the value.
// Checksum: CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF; check
// value crc32c("123456789") = 0xE3069283), with the SSE4.2 instruction when compiled for it.
//
// save_checkpoint writes path + ".tmp-<pid>", flushes and closes it, fsyncs it, renames it over `path`
// and fsyncs the directory; on any failure the temporary file is removed, `path` keeps its old content
// and sra::Error "[checkpoint] <path>: cannot save: <reason>" is thrown. Crash tests: with the environment
// variable SRA_TEST_KILL_IN_SAVE=before-rename the save SIGKILLs its own process once the temporary file
// is written and synced, before the rename (the variable is read only at that point). load_checkpoint turns
// any HDF5 error (missing, truncated or non-HDF5 file), missing object, inconsistent attribute or checksum
// mismatch into sra::Error "[checkpoint] <path>: <reason>"; HDF5's own error printing is silenced.
//
// Directory management: checkpoints are dir/ckpt-<step, zero-padded to 8 digits>.h5, ordered by step.
// load_into copies checkpoint tensors into existing tensors (parameters, optimizer moments, buffers) in
// place, all or nothing. The Module/AdamW/Generator helpers fix the naming used by the trainer:
// "model/<parameter or buffer name>", "optim/state/<name>.exp_avg|.exp_avg_sq", "optim/steps" (0-d i64).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/module.h"
#include "core/crc32c.h"
#include "core/json.h"
#include "core/rng.h"
#include "model/optimizer.h"

namespace sra {

// Written to every checkpoint's meta["code_version"] and to prepared-data manifests.
inline constexpr const char* kCodeVersion = "sra 0.1";

struct Checkpoint {
  // Names are '/'-separated paths without empty, "." or ".." components, unique; tensors may alias
  // live parameters (save_checkpoint copies them to the file, so save before the next update).
  NamedTensors tensors;
  // Keys: non-empty, no '/', not "." or ".."; values: any bytes (configs, hashes, JSON states).
  std::map<std::string, std::string> meta;
  int64_t step = 0;

  const Tensor* find(const std::string& name) const;  // nullptr when absent
};

void save_checkpoint(const Checkpoint& ckpt, const std::string& path);
Checkpoint load_checkpoint(const std::string& path);  // CPU tensors, contiguous
// Rewrites the seal (whole-file CRC) of a checkpoint file. save_checkpoint calls it; tests use it to
// reach the per-dataset checksums behind the seal.
void seal_checkpoint_file(const std::string& path);

// ---- checkpoint directories -------------------------------------------------------------------------
std::string checkpoint_path(const std::string& dir, int64_t step);  // dir/ckpt-00000042.h5
// Paths of dir/ckpt-<digits>.h5, highest step first; empty when dir does not exist.
std::vector<std::string> list_checkpoints(const std::string& dir);
// Checks a checkpoint file's seal (its size and whole-file CRC) without parsing it; throws
// "[checkpoint] <path>: <reason>" like load_checkpoint.
void verify_checkpoint_file(const std::string& path);
// Tries the checkpoints newest first, writing "warning: skipping <path>: <reason>\n" to `warn` for each
// one that fails to load; nullopt when none loads. The second form returns the loaded checkpoint too,
// so that resuming reads the file once. Neither renames nor deletes anything.
std::optional<std::string> newest_valid_checkpoint(const std::string& dir, std::ostream& warn);
std::optional<std::pair<std::string, Checkpoint>> load_newest_valid_checkpoint(const std::string& dir,
                                                                               std::ostream& warn);
// Corrupt checkpoints are never deleted: set_aside_corrupt renames path to path + ".corrupt" (".corrupt-2",
// ... when taken), writing "warning: <path> is corrupt (<reason>): renamed to <new path>\n"; it returns
// the new path. list_corrupt_checkpoints lists dir's ckpt-*.h5.corrupt[-N] files, sorted by name.
std::string set_aside_corrupt(const std::string& path, const std::string& reason, std::ostream& warn);
std::vector<std::string> list_corrupt_checkpoints(const std::string& dir);
// Moves the files `move` and copies the files `copy` into dir/previous-<n>/ (the first n >= 1 not
// taken), logging "moved K files of the earlier run to <dir>/previous-<n>"; returns that directory.
std::string move_to_previous(const std::string& dir, const std::vector<std::string>& move,
                             const std::vector<std::string>& copy, std::ostream& log);

// Where a run in out_dir (sra train / sra rl) starts. A directory "holds a run" when it has checkpoints,
// corrupt checkpoints (*.corrupt) or a non-empty metrics file.
//   fresh                 step 0; the earlier run's checkpoints, corrupt checkpoints and metrics file move
//                         to out_dir/previous-<n>/ (nothing is deleted). Excludes resume.
//   resume ""             step 0 in a directory that holds no run; else "[<component>] <out_dir> already
//                         holds a run (<what>); resume with --resume auto or a checkpoint path, start over
//                         with --fresh ..., or use another output directory".
//   resume "auto"         the newest checkpoint of out_dir that loads; each newer one that fails to load is
//                         set aside (set_aside_corrupt, warning on `log`). None loads: step 0 when the
//                         directory holds no run (logged "no checkpoint in <out_dir>: starting from step 0"),
//                         else "[<component>] no valid checkpoint in <out_dir> but it holds a run (...);
//                         start over with --fresh ...".
//   resume <path>         the checkpoint at that path.
// When resuming at step s, out_dir's checkpoints with a step above s (work the resumed run redoes) move to
// out_dir/previous-<n>/ with a copy of the metrics file, so that keep_last never ranks them above the
// resumed run's own checkpoints.
struct RunStartOptions {
  std::string out_dir;
  std::string resume;        // "", "auto" or a checkpoint path
  bool fresh = false;        // --fresh
  std::string metrics_path;  // out_dir/<logging.metrics_file>
  const char* component = "train";
};
std::optional<std::pair<std::string, Checkpoint>> checkpoint_to_resume(const RunStartOptions& opt,
                                                                       std::ostream& log);
// Keeps the k (>= 1) newest valid checkpoints of dir (checked with verify_checkpoint_file, newest first):
// a newer one that fails the check is set aside (set_aside_corrupt, warning on `warn`), never counted and
// never deleted, so the newest valid checkpoint always survives. Checkpoints older than the k-th valid
// one are deleted, as are temporary files of saves that died (ckpt-*.h5.tmp-<pid> whose process is gone
// or is this one).
void keep_last(const std::string& dir, int64_t k, std::ostream& warn);

// ---- applying checkpoints ---------------------------------------------------------------------------
// Copies ckpt's tensors named prefix + name into dst's tensors (in place, bumping versions). Every dst
// name must be present with the same shape and dtype, and every checkpoint name under `prefix` must be
// in dst; otherwise throws one sra::Error with the count and the first kMismatchesShown mismatches, one
// per line (missing, then unexpected, then shape/dtype), e.g.
//   "[checkpoint] 3 mismatched tensors under 'model/':\n  missing: a [2, 3]\n  unexpected: b [4]\n
//    shape: c checkpoint [4] vs model [5]"
// ending with "\n  ... and N more" when there are more, and copies nothing.
inline constexpr size_t kMismatchesShown = 5;
void load_into(const NamedTensors& dst, const Checkpoint& ckpt, const std::string& prefix);
// Appends src as prefix + name (aliasing, no copy).
void add_tensors(Checkpoint& ckpt, const NamedTensors& src, const std::string& prefix);

// A module's parameters then buffers (router thresholds and other non-gradient state).
NamedTensors module_state(const Module& m);
void add_module(Checkpoint& ckpt, const Module& m, const std::string& prefix = "model/");
void load_module(const Module& m, const Checkpoint& ckpt, const std::string& prefix = "model/");

// prefix + "state/" + AdamW::state() names, and prefix + "steps" (0-d i64, the bias-correction count).
void add_optimizer(Checkpoint& ckpt, const AdamW& optim, const std::string& prefix = "optim/");
// The same from a state named as AdamW::state() and a step count (ZeRO-1's gathered state).
void add_optimizer_state(Checkpoint& ckpt, const NamedTensors& state, int64_t steps,
                         const std::string& prefix = "optim/");
void load_optimizer(AdamW& optim, const Checkpoint& ckpt, const std::string& prefix = "optim/");

// {"seed": s, "stream": st, "offset": o}; values above INT64_MAX are written as decimal strings.
Json generator_state(const Generator& gen);
// Restores seed, stream and offset; throws "[checkpoint] bad generator state ..." on a malformed value.
void set_generator_state(Generator& gen, const Json& state);

// ---- checksums --------------------------------------------------------------------------------------
// crc32c and crc32c_portable: core/crc32c.h.
// CRC-32C of a whole file (e.g. the tokenizer's hash in meta); throws "[checkpoint] cannot read <path>".
uint32_t file_crc32c(const std::string& path);

}  // namespace sra
