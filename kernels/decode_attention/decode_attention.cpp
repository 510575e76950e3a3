// The decode-attention dispatcher: the one switch from a device to its kernel (contract in
// decode_attention.h), and the CUDA scratch size.
#include "kernels/decode_attention/decode_attention.h"

#include "kernels/common/dtype_switch.h"

namespace sra::kern {

int64_t decode_attention_chunk(int64_t batch, int64_t heads, int64_t s_max) {
  // 256 keys a block unless that leaves fewer than ~2 blocks per multiprocessor of an H100/H200
  int64_t c = 256;
  while (c > 64 && batch * heads * ((s_max + c - 1) / c) < 264) c /= 2;
  return c;
}

size_t decode_attention_scratch_bytes(Device device, DType dtype, int64_t batch, int64_t heads, int64_t d,
                                      int64_t s_max) {
  if (!device.is_cuda()) return 0;
  const int64_t chunks =
      (s_max + decode_attention_chunk(batch, heads, s_max) - 1) / decode_attention_chunk(batch, heads, s_max);
  const size_t table = (size_t(batch) * kDecodeParts * sizeof(DecodePart) + 255) / 256 * 256;
  return table + size_t(batch * heads * chunks * (d + 2)) * dtype_size(dtype);
}

void decode_attention(Device d, const DecodeAttentionArgs& a) {
  if (a.batch == 0 || a.heads == 0) return;
  if (d.is_cuda()) return decode_attention_cuda(a, d.index);
  for_float(a.dtype, "decode_attention", "cpu", [&](auto t) { decode_attention_cpu<decltype(t)>(a); });
}

}  // namespace sra::kern
