// Fuzz target: the Host and Origin checks (src/server/web-policy.cpp) that every request and every
// WebSocket upgrade passes, and the security headers built from an allowed Host. The input is
// "HOST\nORIGIN" (no newline: a Host only; no Origin header when there is no second line).
// Invariants beyond "no crash":
// - host_of() gives lowercase names of name characters (or an IPv6 literal), and reads its own
//   answer back unchanged (a fixed point);
// - an allowed Host is made of characters that cannot break out of the CSP header it is copied
// into;
// - normalize_origin() is a fixed point, lowercase, http(s), no trailing "/";
// - no Origin is always allowed, "null" never (without "*"); an allowed Origin is the page's own
//   or one of the list.
#include "fuzz-check.h"
#include "web-policy.h"

#include <glib.h>

#include <string>

using namespace roomcast;

namespace {

bool all_of(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
         c == ':';
}

bool header_safe_char(char c) {
  return g_ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
}

void check(std::string_view input, const web::Policy &p, std::optional<std::string_view> host,
           std::optional<std::string_view> origin) {
  if (host) {
    if (auto h = web::host_of(*host)) {
      FUZZ_CHECK(!h->empty() && all_of(*h, name_char));
      // IPv6 literals are written in brackets in a Host header.
      const std::string again = h->find(':') != std::string::npos ? "[" + *h + "]" : *h;
      FUZZ_CHECK(web::host_of(again) == h);
    }
  }
  const bool host_ok = web::host_allowed(p, host);
  if (!host) FUZZ_CHECK(host_ok);
  if (host && host_ok) {
    FUZZ_CHECK(web::host_of(*host).has_value());
    FUZZ_CHECK(all_of(*host, header_safe_char));
    for (const auto &[name, value] : web::security_headers(p, *host))
      FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }

  if (origin) {
    if (auto o = web::normalize_origin(*origin)) {
      FUZZ_CHECK(o->starts_with("http://") || o->starts_with("https://"));
      FUZZ_CHECK(o->back() != '/');
      for (char c : *o)
        FUZZ_CHECK(!g_ascii_isupper(c));
      FUZZ_CHECK(web::normalize_origin(*o) == o);
    }
  }
  FUZZ_CHECK(web::origin_allowed(p, std::nullopt, host));
  FUZZ_CHECK(!web::origin_allowed(p, std::string_view("null"), host));
  if (origin && web::origin_allowed(p, origin, host)) {
    auto o = web::normalize_origin(*origin);
    FUZZ_CHECK(o.has_value());
    bool listed = false;
    for (const auto &l : p.origins)
      listed = listed || *o == l;
    std::optional<std::string> own;
    if (host) own = web::normalize_origin((p.tls ? "https://" : "http://") + std::string(*host));
    FUZZ_CHECK(listed || own == o);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string_view host = input.substr(0, nl);
  std::optional<std::string_view> origin;
  if (nl != std::string_view::npos) origin = input.substr(nl + 1);
  for (bool tls : {false, true}) {
    web::Policy p;
    p.hosts = {"roomcast.example", "vm.local"};
    p.origins = {"https://app.example", "http://10.0.0.5:8443"};
    p.tls = tls;
    check(input, p, host, origin);
    check(input, p, std::nullopt, origin);
  }
  return 0;
}
