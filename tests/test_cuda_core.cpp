// CUDA core: the caching allocator (size classes, reuse without cudaMalloc, counters), the current
// stream, host copies and the host-sync counter, the device name and the event timer. Skipped (reported
// as skipped) without a GPU.
#include <doctest/doctest.h>

#include <vector>

#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/strided_copy.h"
#include "core/tensor.h"

using namespace sra;
using sra::test::no_gpu;

TEST_CASE("cuda: size classes" * doctest::skip(!cuda::built_with_cuda())) {
  CHECK(cuda::size_class(0) == 512);
  CHECK(cuda::size_class(1) == 512);
  CHECK(cuda::size_class(512) == 512);
  CHECK(cuda::size_class(513) == 1024);
  CHECK(cuda::size_class(size_t(1) << 20) == (size_t(1) << 20));
  // above 1 MiB: four classes per power of two, never more than 25% over the request
  for (size_t n :
       {size_t(1 << 20) + 1, size_t(3) << 20, size_t(5000000), size_t(1) << 30, size_t(123456789)}) {
    size_t c = cuda::size_class(n);
    CHECK(c >= n);
    CHECK(double(c) <= 1.25 * double(n) + 1);
  }
}

TEST_CASE("cuda: a freed block is reused without cudaMalloc" * doctest::skip(no_gpu())) {
  const int dev = 0;
  { Tensor warm = Tensor::empty({1000, 1000}, DType::f32, Device::cuda(dev)); }
  cuda::Stats s0 = cuda::stats(dev);
  for (int i = 0; i < 10; ++i) {
    Tensor a = Tensor::empty({1000, 1000}, DType::f32, Device::cuda(dev));
    Tensor b = Tensor::empty({999, 1000}, DType::f32, Device::cuda(dev));  // a's size class too
  }
  cuda::Stats s1 = cuda::stats(dev);
  CHECK(s1.device_mallocs - s0.device_mallocs == 1);  // a second block of the class, once
  CHECK(s1.cache_hits - s0.cache_hits >= 19);
  CHECK(s1.device_frees == s0.device_frees);
  CHECK(s1.bytes_in_use == s0.bytes_in_use);
}

TEST_CASE("cuda: copies round-trip and only device-to-host copies sync" * doctest::skip(no_gpu())) {
  const int dev = 0;
  std::vector<float> v(1 << 20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 977) - 3.5f;
  Tensor x = Tensor::from_vector(v, {int64_t(v.size())});
  uint64_t syncs0 = cuda::stats(dev).host_syncs;
  Tensor g = x.to(Device::cuda(dev));
  Tensor z = Tensor::zeros({7, 9}, DType::f32, Device::cuda(dev));
  CHECK(cuda::stats(dev).host_syncs == syncs0);  // pageable h2d and memset queue without waiting
  Tensor back = g.to(Device::cpu());
  CHECK(cuda::stats(dev).host_syncs == syncs0 + 1);
  CHECK(back.to_vector<float>() == v);
  CHECK(z.to(Device::cpu()).to_vector<float>() == std::vector<float>(63, 0.0f));
}

TEST_CASE("cuda: peak and in-use bytes follow tensors' lifetimes" * doctest::skip(no_gpu())) {
  const int dev = 0;
  cuda::reset_peak(dev);
  uint64_t base = cuda::stats(dev).bytes_in_use;
  {
    Tensor a = Tensor::empty({4 << 20}, DType::f32, Device::cuda(dev));  // 16 MiB
    CHECK(cuda::stats(dev).bytes_in_use == base + cuda::size_class(size_t(16) << 20));
  }
  cuda::Stats s = cuda::stats(dev);
  CHECK(s.bytes_in_use == base);
  CHECK(s.peak_bytes_in_use >= base + (size_t(16) << 20));
  CHECK(s.bytes_cached >= (size_t(16) << 20));
  cuda::empty_cache(dev);
  CHECK(cuda::stats(dev).bytes_cached == 0);
}

TEST_CASE("cuda: an impossible allocation is an error, not a crash" * doctest::skip(no_gpu())) {
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t(1) << 50}, DType::f32, Device::cuda(0)),
                       doctest::Contains("[alloc] out of GPU memory"), Error);
  // the device still works afterwards
  Tensor ok = Tensor::full({3}, 2.0).to(Device::cuda(0));
  CHECK(ok.to(Device::cpu()).to_vector<float>() == std::vector<float>{2, 2, 2});
}

TEST_CASE("cuda: the device's name and an event timer around queued work" * doctest::skip(no_gpu())) {
  CHECK(!cuda::device_name(0).empty());
  Tensor a = Tensor::ones({1 << 22}, DType::f32, Device::cuda(0));
  cuda::EventTimer timer(0);
  uint64_t syncs = cuda::stats(0).host_syncs;
  timer.start();
  for (int i = 0; i < 8; ++i) a.fill_(double(i));
  timer.stop();
  CHECK(cuda::stats(0).host_syncs == syncs);  // recording waits for nothing
  double ms = timer.elapsed_ms();
  CHECK(cuda::stats(0).host_syncs == syncs + 1);
  CHECK(ms > 0);
  CHECK(ms < 1e4);
}

// copy_many: 37 pairs (three launches of up to 16) of strided views, mixed sizes, equal to copy_ one by one
// on the CPU; bf16 (2-byte) elements too.
TEST_CASE("cuda: copy_many equals one copy_ per pair" * doctest::skip(no_gpu())) {
  const Device gpu = Device::cuda(0);
  for (DType dt : {DType::f32, DType::bf16}) {
    std::vector<Tensor> dst_cpu, src_cpu, dst_gpu, src_gpu;
    for (int64_t j = 0; j < 37; ++j) {
      const int64_t h = 1 + j % 3, d = 5 + j % 7;
      Tensor big = Tensor::arange(2 * h * 9 * d, DType::f32).to(dt).reshape({2, h, 9, d});
      std::vector<float> vals(size_t(h * d));
      for (size_t i = 0; i < vals.size(); ++i) vals[i] = float(100 * j) + 0.5f * float(i);
      Tensor s = Tensor::from_vector(vals, {h, 1, d}).to(dt);
      const int64_t row = j % 9;
      dst_cpu.push_back(big.narrow(0, 1, 1).squeeze(0).narrow(1, row, 1));  // (h, 1, d) of a (h, 9, d) slab
      src_cpu.push_back(s);
      Tensor big_gpu = big.to(gpu);
      dst_gpu.push_back(big_gpu.narrow(0, 1, 1).squeeze(0).narrow(1, row, 1));
      src_gpu.push_back(s.to(gpu));
    }
    for (size_t j = 0; j < dst_cpu.size(); ++j) dst_cpu[j].copy_(src_cpu[j]);
    copy_many(dst_gpu, src_gpu);
    for (size_t j = 0; j < dst_cpu.size(); ++j) {
      const Tensor want = dst_cpu[j].to(DType::f64), got = dst_gpu[j].to(Device::cpu()).to(DType::f64);
      CHECK(want.to_vector<double>() == got.to_vector<double>());
    }
  }
}
