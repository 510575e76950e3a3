// CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF; check value
// crc32c("123456789") = 0xE3069283), with the SSE4.2 instruction when compiled for it. Checkpoints
// (run/checkpoint.h) and token shards (data/packing.h) use it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sra {

// CRC-32C of n bytes; pass a previous result as `crc` to continue a running checksum.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t crc32c_portable(const void* data, size_t n, uint32_t crc = 0);  // table version, same result

}  // namespace sra
