// Runs a fuzz target on every file of its corpus, built with the project's own compiler: the
// committed corpus (tests/fuzz/corpus/<target>/) is a unit test that needs no clang. Arguments:
// files or folders (each folder's files, sorted). Fails when an input breaks an invariant (the
// target aborts) or when there is no input at all.
#include "fuzz-check.h"

#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

void collect(const char *path, std::vector<std::string> &out) {
  if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
    out.emplace_back(path);
    return;
  }
  g_autoptr(GDir) dir = g_dir_open(path, 0, nullptr);
  if (!dir) return;
  std::vector<std::string> names;
  while (const char *name = g_dir_read_name(dir))
    names.emplace_back(name);
  std::sort(names.begin(), names.end());
  for (const auto &n : names) {
    g_autofree char *child = g_build_filename(path, n.c_str(), nullptr);
    if (g_file_test(child, G_FILE_TEST_IS_REGULAR)) out.emplace_back(child);
  }
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; i++)
    collect(argv[i], files);
  if (files.empty()) {
    std::fprintf(stderr, "no corpus inputs in the arguments\n");
    return 1;
  }
  for (const auto &f : files) {
    g_autofree char *contents = nullptr;
    gsize len = 0;
    g_autoptr(GError) error = nullptr;
    if (!g_file_get_contents(f.c_str(), &contents, &len, &error)) {
      std::fprintf(stderr, "%s\n", error->message);
      return 1;
    }
    std::fprintf(stderr, "%s\n", f.c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(contents), len);
  }
  std::printf("%zu inputs replayed\n", files.size());
  return 0;
}
