// Fuzz target: what a request's path names (web::route, src/server/web-policy.cpp), the first
// decision the server makes about a file to send a stranger. Invariants beyond "no crash":
// - a file name is a non-empty relative name with no empty, "..", or hidden (".x") component;
// - joined to a web root it stays strictly below it, both as GLib builds the name and as GLib
//   canonicalises it ("a/./b", "a/../b" resolved lexically; symbolic links are the server's
//   realpath() check at run time);
// - the server's own answers and the two HTML pages come from exactly their paths;
// - the same path always routes the same way.
#include "fuzz-check.h"
#include "web-policy.h"

#include <glib.h>

#include <string>

using namespace roomcast;

namespace {

constexpr const char *kRoot = "/srv/roomcast-web";

bool below_root(const char *p) {
  const std::string prefix = std::string(kRoot) + "/";
  return g_str_has_prefix(p, prefix.c_str()) && std::string_view(p).size() > prefix.size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  using K = web::Route::Kind;
  const web::Route r = web::route(input);
  FUZZ_CHECK(web::route(input) == r);
  FUZZ_CHECK((r.kind == K::Health) == (input == "/healthz"));
  FUZZ_CHECK((r.kind == K::Metrics) == (input == "/metrics"));
  FUZZ_CHECK((r.kind == K::NotFound || r.kind == K::Health) == r.file.empty());
  if (r.file == "room.html") FUZZ_CHECK(input.starts_with("/room/") || input == "/room.html");
  if (r.file == "index.html") FUZZ_CHECK(input == "/" || input == "/index.html");
  if (r.file.empty()) return 0;

  const std::string &f = r.file;
  FUZZ_CHECK(f.find('\0') == std::string::npos);
  FUZZ_CHECK(f.front() != '/');
  // Component by component: nothing empty ("//"), nothing that climbs, nothing hidden.
  for (std::size_t start = 0;;) {
    const std::size_t end = f.find('/', start);
    const std::string_view part =
        std::string_view(f).substr(start, end == std::string::npos ? end : end - start);
    // A trailing "/" ("/healthz/") names a folder, which the server cannot read: harmless.
    if (end != std::string::npos || !part.empty()) {
      FUZZ_CHECK(!part.empty());
      FUZZ_CHECK(part.front() != '.');
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  g_autofree char *built = g_build_filename(kRoot, f.c_str(), nullptr);
  FUZZ_CHECK(below_root(built));
  g_autofree char *canonical = g_canonicalize_filename(f.c_str(), kRoot);
  FUZZ_CHECK(below_root(canonical));
  return 0;
}
