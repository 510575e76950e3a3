// Evaluation over several ranks (`sra eval --nproc-per-node N`, or any launcher of core/dist/env.h): the
// problems' batches (of --batch prompts, as one process forms them) are dealt round-robin, batch k to rank
// k mod N, so that every sample is computed exactly as in a one-process run; each rank packs the samples
// it generated, and the ranks all-gather them (tcp, core/dist/collectives.h) into every rank's result in
// problem order. Rank 0 alone writes the table and the files: samples.jsonl and summary.json equal a
// one-process run's except the timings (latency_ms, seconds, tokens/s: the job's wall time is the slowest
// rank's, prefill seconds are summed).
#pragma once
#include <string>
#include <vector>

#include "eval/evaluate.h"

namespace sra::eval {

// The generated fields (output, score, answer_tokens, cache_bytes, finish_reason, selected_ratio, flops,
// attention_flops, latency_ms) of samples[i] for i in `positions`, as bytes; unpack_samples writes
// them back into the same positions.
std::string pack_samples(const std::vector<EvalSample>& samples, const std::vector<size_t>& positions);
void unpack_samples(const std::string& bytes, std::vector<EvalSample>& samples);

}  // namespace sra::eval
