// Which requests the server answers: the Host a request names and the Origin of a WebSocket
// upgrade, the security headers of every answer, and what a request's path names. Pure functions
// (no I/O), table-tested in tests/unit/test-web-policy.cpp and fuzzed in tests/fuzz/. The decisions
// are written down in docs/architecture.md ("Deployment security").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roomcast::web {

struct Policy {
  // Names (lowercase, no port) a request's Host may carry besides IP literals and localhost: the
  // machine's own names, the TLS certificate's DNS names, --allowed-host, the hosts of
  // --allowed-origin. "*" allows any.
  std::vector<std::string> hosts;
  // Origins ("https://example.org", "http://10.0.0.5:8443"; lowercase, no trailing slash) whose
  // pages may open a WebSocket besides the server's own. "*" allows any.
  std::vector<std::string> origins;
  bool tls = false;
};

// The host part of a Host header ("[::1]:8443" -> "::1", "Example.org." -> "example.org"),
// lowercase; nullopt when it is malformed (characters outside names and IP literals, a bad port).
std::optional<std::string> host_of(std::string_view host_header);

// Whether a request with this Host header is for us (DNS-rebinding defence: a name that is not
// ours must not reach us, even if it resolves to our address). A missing Host (HTTP/1.0) is
// allowed.
bool host_allowed(const Policy &p, std::optional<std::string_view> host_header);

// Whether a WebSocket upgrade with this Origin may go on. No Origin (native clients: the
// GStreamer elements, scripts) is allowed; "null" (sandboxed frames, file: pages) is not; an
// Origin is allowed when it is the page's own (scheme of this server, same host and port as the
// request's Host) or in the list.
bool origin_allowed(const Policy &p, std::optional<std::string_view> origin,
                    std::optional<std::string_view> host_header);

// Lowercase, without a trailing slash and without the scheme's default port; nullopt when it is
// not scheme://host[:port] with an http(s) scheme. For --allowed-origin.
std::optional<std::string> normalize_origin(std::string_view origin);

// The headers of every HTTP answer: CSP (only our own scripts, styles and WebSocket; no framing),
// nosniff, no referrer, and HSTS under TLS. `host` is the request's (already allowed) Host header.
std::vector<std::pair<std::string, std::string>> security_headers(const Policy &p,
                                                                  std::string_view host);

// What a request's path names (GET and HEAD, after the Host check).
struct Route {
  enum class Kind { File, Health, Metrics, NotFound };
  Kind kind = Kind::NotFound;
  // File: the name to answer with, relative to the web root (and to the built-in copy of the web
  // client). Metrics: the file to answer with when /metrics is not open to the client. Else empty.
  std::string file;
  bool operator==(const Route &) const = default;
};

// "/" is index.html, "/room/<anything>" room.html, "/healthz" and "/metrics" the server's own
// answers. Any other path names a file below the web root: the path without its leading "/", and
// only a plain relative name ("app.js", "img/logo.png"): no "..", no component that starts with a
// dot (hidden files, "."), no empty component. libsoup hands the path over percent-decoded, with
// its dot segments resolved ("/a/../b" is "/b", "/a/%2egit/x" is "/a/.git/x") and a decoded "/../"
// refused (400); route() decodes nothing more. The server still checks that the file's real path
// (symbolic links resolved) lies below the web root's. Pure; fuzzed by
// tests/fuzz/fuzz-web-path.cpp.
Route route(std::string_view path);

} // namespace roomcast::web
