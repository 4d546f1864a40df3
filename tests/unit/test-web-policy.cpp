// The server's HTTP policy (src/server/web-policy.*): which Host a request may name, which Origin
// may open a WebSocket, the security headers. One row per decision; no I/O.
#include "check-str.h"
#include "web-policy.h"

#include <glib.h>

#include <cstring>
#include <optional>
#include <string>

using namespace roomcast;

namespace {

using Opt = std::optional<std::string_view>;
const Opt none;

void test_host_of() {
  const struct {
    std::string_view header;
    std::optional<std::string> host;
  } rows[] = {
      {"127.0.0.1:8443", "127.0.0.1"},
      {"127.0.0.1", "127.0.0.1"},
      {"[::1]:8443", "::1"},
      {"[::1]", "::1"},
      {"Example.ORG:443", "example.org"},
      {"example.org.", "example.org"},
      // Not a fixed point before (found by tests/fuzz/fuzz-web-headers.cpp): ".." gave ".", which
      // host_of() refused.
      {"..", std::nullopt},
      {"example.org..", std::nullopt},
      {".", std::nullopt},
      {"my_host.lan:80", "my_host.lan"},
      {"", std::nullopt},
      {":8443", std::nullopt},
      {"example.org:", std::nullopt},
      {"example.org:99999", std::nullopt},
      {"example.org:0", std::nullopt},
      {"exa mple.org", std::nullopt},
      {"example.org/evil", std::nullopt},
      {"[::1", std::nullopt},
      {"[::1]x", std::nullopt},
      // GLib's parser would stop at the NUL (found by tests/fuzz/fuzz-web-headers.cpp).
      {std::string_view("[::1\0junk]", 10), std::nullopt},
      {"[fe80::1%eth0]:8443", std::nullopt},
      {"[example.org]", std::nullopt},
      {"user@example.org", std::nullopt},
      {"ex\"ample", std::nullopt},
  };
  for (const auto &r : rows) {
    g_test_message("Host: '%.*s'", int(r.header.size()), r.header.data());
    g_assert_true(web::host_of(r.header) == r.host);
  }
}

void test_hosts() {
  web::Policy p;
  p.hosts = {"roomcast.example", "vm", "vm.local"};
  const struct {
    Opt host;
    bool ok;
  } rows[] = {
      {none, true}, // HTTP/1.0: no Host
      {"127.0.0.1:8443", true},
      {"192.0.2.7:8443", true},
      {"[::1]:8443", true},
      {"[2001:db8::5]", true},
      {"localhost:8443", true},
      {"app.localhost", true},
      {"roomcast.example", true},
      {"ROOMCAST.example:8443", true},
      {"vm.local:8443", true},
      // DNS rebinding: a name that is not ours, pointed at our address.
      {"evil.example:8443", false},
      {"roomcast.example.evil.example", false},
      {"localhost.evil.example", false},
      {"", false},
      {"bad host", false},
  };
  for (const auto &r : rows) {
    g_test_message("Host: %s", r.host ? std::string(*r.host).c_str() : "(none)");
    g_assert_true(web::host_allowed(p, r.host) == r.ok);
  }
  web::Policy any;
  any.hosts = {"*"};
  g_assert_true(web::host_allowed(any, Opt("evil.example")));
  g_assert_false(web::host_allowed(any, Opt("bad host")));
}

void test_origins() {
  web::Policy plain;
  plain.origins = {"https://app.example"};
  web::Policy tls = plain;
  tls.tls = true;
  const struct {
    const web::Policy &policy;
    Opt origin, host;
    bool ok;
  } rows[] = {
      // Native clients send no Origin.
      {plain, none, Opt("127.0.0.1:8443"), true},
      {plain, none, none, true},
      // The page's own origin.
      {plain, Opt("http://127.0.0.1:8443"), Opt("127.0.0.1:8443"), true},
      {plain, Opt("HTTP://127.0.0.1:8443"), Opt("127.0.0.1:8443"), true},
      {tls, Opt("https://192.0.2.7:8443"), Opt("192.0.2.7:8443"), true},
      {tls, Opt("https://roomcast.example"), Opt("roomcast.example:443"), true},
      {plain, Opt("http://[::1]:8443"), Opt("[::1]:8443"), true},
      // Same host, another scheme or port: another origin.
      {tls, Opt("http://192.0.2.7:8443"), Opt("192.0.2.7:8443"), false},
      {plain, Opt("https://127.0.0.1:8443"), Opt("127.0.0.1:8443"), false},
      {plain, Opt("http://127.0.0.1:9000"), Opt("127.0.0.1:8443"), false},
      {plain, Opt("http://127.0.0.1"), Opt("127.0.0.1:8443"), false},
      // Foreign pages.
      {plain, Opt("http://evil.example"), Opt("127.0.0.1:8443"), false},
      {plain, Opt("null"), Opt("127.0.0.1:8443"), false},
      {plain, Opt("file://"), Opt("127.0.0.1:8443"), false},
      {plain, Opt(""), Opt("127.0.0.1:8443"), false},
      {plain, Opt("http://127.0.0.1:8443.evil.example"), Opt("127.0.0.1:8443"), false},
      // Listed.
      {plain, Opt("https://app.example"), Opt("127.0.0.1:8443"), true},
      {plain, Opt("https://app.example:443"), Opt("127.0.0.1:8443"), true},
      {plain, Opt("https://app.example/"), Opt("127.0.0.1:8443"), true},
      {plain, Opt("http://app.example"), Opt("127.0.0.1:8443"), false},
      {plain, Opt("https://app.example:8443"), Opt("127.0.0.1:8443"), false},
  };
  int i = 0;
  for (const auto &r : rows) {
    g_test_message("row %d: Origin %s, Host %s", i++,
                   r.origin ? std::string(*r.origin).c_str() : "(none)",
                   r.host ? std::string(*r.host).c_str() : "(none)");
    g_assert_true(web::origin_allowed(r.policy, r.origin, r.host) == r.ok);
  }
  web::Policy any;
  any.origins = {"*"};
  g_assert_true(web::origin_allowed(any, Opt("null"), Opt("127.0.0.1:8443")));
  g_assert_true(web::origin_allowed(any, Opt("http://evil.example"), Opt("127.0.0.1:8443")));

  g_assert_true(web::normalize_origin("HTTPS://App.Example:443/") == "https://app.example");
  g_assert_true(web::normalize_origin("http://app.example:80") == "http://app.example");
  g_assert_true(web::normalize_origin("http://app.example:8080") == "http://app.example:8080");
  g_assert_false(web::normalize_origin("ftp://app.example").has_value());
  g_assert_false(web::normalize_origin("https://app.example/path").has_value());
  g_assert_false(web::normalize_origin("app.example").has_value());
}

void test_headers() {
  web::Policy plain, tls;
  tls.tls = true;
  auto find = [](const auto &headers, const char *name) -> std::string {
    for (const auto &[n, v] : headers)
      if (n == name) return v;
    return "";
  };
  auto h = web::security_headers(plain, "127.0.0.1:8443");
  std::string csp = find(h, "Content-Security-Policy");
  for (const char *part : {"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
                           "connect-src 'self' ws://127.0.0.1:8443;", "base-uri 'none'"})
    g_assert_nonnull(strstr(csp.c_str(), part));
  CHECK_STR(find(h, "X-Content-Type-Options"), "nosniff");
  CHECK_STR(find(h, "Referrer-Policy"), "no-referrer");
  CHECK_STR(find(h, "X-Frame-Options"), "DENY");
  CHECK_STR(find(h, "Strict-Transport-Security"), ""); // never over plain http
  h = web::security_headers(tls, "192.0.2.7:8443");
  g_assert_nonnull(strstr(find(h, "Content-Security-Policy").c_str(), "wss://192.0.2.7:8443"));
  g_assert_true(g_str_has_prefix(find(h, "Strict-Transport-Security").c_str(), "max-age="));
  // No Host: 'self' only.
  h = web::security_headers(plain, "");
  g_assert_nonnull(strstr(find(h, "Content-Security-Policy").c_str(), "connect-src 'self';"));
}

// What a request's path names (web::route): the server's own pages, the two HTML pages, plain file
// names below the web root; never a name with "..", a hidden first component or "//".
void test_routes() {
  using K = web::Route::Kind;
  const struct {
    std::string_view path;
    K kind;
    const char *file;
  } rows[] = {
      {"/", K::File, "index.html"},
      {"/room/demo", K::File, "room.html"},
      {"/room/", K::File, "room.html"},
      {"/room/../../etc/passwd", K::File, "room.html"}, // any room name: always room.html
      {"/healthz", K::Health, ""},
      {"/metrics", K::Metrics, "metrics"}, // the file, when /metrics is not open to the client
      {"/index.js", K::File, "index.js"},
      {"/img/logo.png", K::File, "img/logo.png"},
      // libsoup has decoded the path already; nothing is decoded twice: a file of that name.
      {"/%2e%2e/etc/passwd", K::File, "%2e%2e/etc/passwd"},
      {"/room", K::File, "room"},
      {"/healthz/", K::File, "healthz/"},
      {"/..", K::NotFound, ""},
      {"/../etc/passwd", K::NotFound, ""},
      {"/a/../../etc/passwd", K::NotFound, ""},
      {"/a..b", K::NotFound, ""},
      {"/.git/config", K::NotFound, ""},
      // Hidden files below the first level too (found by tests/fuzz/fuzz-web-path.cpp).
      {"/img/.secret", K::NotFound, ""},
      {"/a/.git/config", K::NotFound, ""},
      {"/a/./b", K::NotFound, ""},
      {"/a/.", K::NotFound, ""},
      {"/.", K::NotFound, ""},
      {"//etc/passwd", K::NotFound, ""},
      {"/a//b", K::NotFound, ""},
      {"", K::NotFound, ""},
      {"*", K::NotFound, ""},
      // Not one of libsoup's paths (found by tests/fuzz/fuzz-web-path.cpp: the first character
      // was dropped, whatever it was).
      {"xroom.html", K::NotFound, ""},
      {std::string_view("/a\0b", 4), K::NotFound, ""},
  };
  for (const auto &r : rows) {
    g_test_message("path '%.*s'", int(r.path.size()), r.path.data());
    web::Route got = web::route(r.path);
    g_assert_true(got.kind == r.kind);
    CHECK_STR(got.file, r.file);
  }
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/web-policy/host-of", test_host_of);
  g_test_add_func("/web-policy/hosts", test_hosts);
  g_test_add_func("/web-policy/origins", test_origins);
  g_test_add_func("/web-policy/headers", test_headers);
  g_test_add_func("/web-policy/routes", test_routes);
  return g_test_run();
}
