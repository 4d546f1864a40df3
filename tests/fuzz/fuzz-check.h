// The fuzz targets' invariant check: a broken invariant aborts with the condition and the input,
// which libFuzzer reports as a crash (and saves the input) and the corpus replay as a failed test.
// Unlike assert() it stays on in release builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace roomcast::fuzz {

[[noreturn]] inline void broken(const char *cond, const char *file, int line,
                                std::string_view input) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\ninput (%zu bytes): ", file, line, cond,
               input.size());
  for (unsigned char c : input) {
    if (c >= 0x20 && c < 0x7f && c != '\\')
      std::fputc(c, stderr);
    else
      std::fprintf(stderr, "\\x%02x", c);
  }
  std::fputc('\n', stderr);
  std::abort();
}

} // namespace roomcast::fuzz

// `input` (a std::string_view) names the fuzzer's input in every target.
#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) ::roomcast::fuzz::broken(#cond, __FILE__, __LINE__, input);                       \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);
