#include "web-policy.h"

#include <glib.h>
#include <gio/gio.h>

#include <algorithm>

namespace roomcast::web {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = g_ascii_tolower(c);
  return out;
}

bool valid_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (!g_ascii_isdigit(c)) return false;
    v = v * 10 + unsigned(c - '0');
  }
  return v > 0 && v <= 65535;
}

bool is_ip_literal(const std::string &h) {
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string(h.c_str());
  return a != nullptr;
}

bool in_list(const std::vector<std::string> &list, const std::string &v) {
  return std::find(list.begin(), list.end(), "*") != list.end() ||
         std::find(list.begin(), list.end(), v) != list.end();
}

} // namespace

std::optional<std::string> host_of(std::string_view h) {
  if (h.empty() || h.size() > 255) return std::nullopt;
  std::string host;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = lower(h.substr(1, close - 1));
    // Only the characters of an IPv6 address: GLib's parser reads a C string, and would stop at a
    // NUL byte ("[::1\0junk]"); a zone ("%eth0") has no place in a Host header.
    for (char c : host)
      if (!g_ascii_isxdigit(c) && c != ':' && c != '.') return std::nullopt;
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !valid_port(rest.substr(1)))) return std::nullopt;
    if (!is_ip_literal(host) || host.find(':') == std::string::npos) return std::nullopt;
    return host;
  }
  auto colon = h.rfind(':');
  std::string_view name = h;
  if (colon != std::string_view::npos) {
    if (!valid_port(h.substr(colon + 1))) return std::nullopt;
    name = h.substr(0, colon);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  // One final dot ends a fully qualified name; the name before it ends with a label.
  if (name.empty() || name.back() == '.') return std::nullopt;
  for (char c : name)
    if (!g_ascii_isalnum(c) && c != '-' && c != '.' && c != '_') return std::nullopt;
  return lower(name);
}

bool host_allowed(const Policy &p, std::optional<std::string_view> host_header) {
  if (!host_header) return true;
  auto host = host_of(*host_header);
  if (!host) return false;
  if (is_ip_literal(*host)) return true;
  if (*host == "localhost" || g_str_has_suffix(host->c_str(), ".localhost")) return true;
  return in_list(p.hosts, *host);
}

std::optional<std::string> normalize_origin(std::string_view origin) {
  std::string o = lower(origin);
  while (!o.empty() && o.back() == '/')
    o.pop_back();
  std::string scheme;
  if (o.rfind("https://", 0) == 0)
    scheme = "https";
  else if (o.rfind("http://", 0) == 0)
    scheme = "http";
  else
    return std::nullopt;
  std::string_view hostport = std::string_view(o).substr(scheme.size() + 3);
  if (hostport.find('/') != std::string_view::npos || !host_of(hostport)) return std::nullopt;
  const std::string dflt = scheme == "https" ? ":443" : ":80";
  if (hostport.size() > dflt.size() && hostport.substr(hostport.size() - dflt.size()) == dflt)
    hostport.remove_suffix(dflt.size());
  return scheme + "://" + std::string(hostport);
}

bool origin_allowed(const Policy &p, std::optional<std::string_view> origin,
                    std::optional<std::string_view> host_header) {
  if (!origin) return true;
  auto o = normalize_origin(*origin);
  if (!o) return in_list(p.origins, "*"); // "null", file://, chrome-extension://, ...
  if (host_header) {
    auto own =
        normalize_origin(std::string(p.tls ? "https://" : "http://") + std::string(*host_header));
    if (own && *own == *o) return true;
  }
  return in_list(p.origins, *o);
}

std::vector<std::pair<std::string, std::string>> security_headers(const Policy &p,
                                                                  std::string_view host) {
  // 'self' covers the page's own WebSocket in CSP 3; the explicit source is for browsers that
  // predate that rule.
  std::string ws = host.empty()
                       ? std::string()
                       : std::string(" ") + (p.tls ? "wss://" : "ws://") + std::string(host);
  std::vector<std::pair<std::string, std::string>> h = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'" +
           ws + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
  };
  if (p.tls) h.emplace_back("Strict-Transport-Security", "max-age=15552000");
  return h;
}

Route route(std::string_view path) {
  using Kind = Route::Kind;
  // libsoup hands over a path that starts with "/" (or "*", of "OPTIONS *"), as a C string: a NUL
  // byte cannot come from it, and would cut the file name short further on.
  if (!path.starts_with('/') || path.find('\0') != std::string_view::npos) return {};
  if (path == "/") return {Kind::File, "index.html"};
  if (path.starts_with("/room/")) return {Kind::File, "room.html"};
  if (path == "/healthz") return {Kind::Health, {}};
  std::string rel(path.substr(1));
  // Only plain names below the web root: no "..", no hidden files (no component starts with a
  // dot: ".git/config", "img/.secret", "a/./b" are not found), no empty component ("//etc",
  // "a//b").
  if (rel.empty() || rel.find("..") != std::string::npos || rel.front() == '.' ||
      rel.front() == '/' || rel.find("/.") != std::string::npos ||
      rel.find("//") != std::string::npos)
    return {};
  return {path == "/metrics" ? Kind::Metrics : Kind::File, std::move(rel)};
}

} // namespace roomcast::web
