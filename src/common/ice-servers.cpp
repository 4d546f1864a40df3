#include "ice-servers.h"

#include <glib.h>

#include <algorithm>
#include <cctype>

namespace roomcast::ice {

namespace {

const proto::spec::IceSchemeRow &row(IceScheme s) {
  return proto::spec::kIceSchemes.at(static_cast<std::size_t>(s));
}

bool fail(std::string *why, std::string text) {
  if (why) *why = std::move(text);
  return false;
}

// The transport values a scheme takes (the table's space-separated list).
std::vector<std::string> transports_of(IceScheme s) {
  std::vector<std::string> out;
  g_auto(GStrv) parts = g_strsplit(std::string(row(s).transports).c_str(), " ", -1);
  for (char **p = parts; p && *p; p++)
    if (**p) out.emplace_back(*p);
  return out;
}

bool host_name_char(char c) {
  return g_ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
}

bool valid_host(const std::string &host, bool bracketed) {
  if (host.empty()) return false;
  if (bracketed) {
    // An IPv6 address (GLib checks it; scopes are not taken).
    return g_hostname_is_ip_address(host.c_str()) && host.find(':') != std::string::npos &&
           host.find('%') == std::string::npos;
  }
  return std::all_of(host.begin(), host.end(), host_name_char) && host.front() != '.' &&
         host.front() != '-';
}

// Percent-decodes user or password: nullopt for a bad escape, a NUL or a control character.
std::optional<std::string> decode(std::string_view s) {
  std::string in(s);
  g_autofree char *out = g_uri_unescape_string(in.c_str(), nullptr);
  if (!out) return std::nullopt;
  for (const char *p = out; *p; p++)
    if (static_cast<unsigned char>(*p) < 0x20 || *p == 0x7f) return std::nullopt;
  return std::string(out);
}

std::string encode(const std::string &s) {
  g_autofree char *out = g_uri_escape_string(s.c_str(), nullptr, FALSE);
  return out;
}

std::string host_port(const Uri &u) {
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return host + ":" + std::to_string(u.port);
}

} // namespace

std::optional<Uri> parse_uri(std::string_view text, Form form, std::string *why) {
  auto bad = [&](std::string reason) -> std::optional<Uri> {
    fail(why, std::move(reason));
    return std::nullopt;
  };
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad("spaces and control characters are not allowed");
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return bad("no scheme (stun:, turn: or turns:)");
  std::string scheme(text.substr(0, colon));
  for (char &c : scheme)
    c = g_ascii_tolower(c);
  auto s = proto::ice_scheme_from_string(scheme);
  if (!s) return bad("unknown scheme '" + scheme + "' (stun, turn or turns)");
  Uri u;
  u.scheme = *s;
  std::string_view rest = text.substr(colon + 1);
  bool authority = rest.substr(0, 2) == "//";
  if (authority) {
    if (form == Form::Rtc) return bad("the URL must be SCHEME:HOST:PORT, without '//'");
    rest.remove_prefix(2);
  }
  if (rest.find('#') != std::string_view::npos) return bad("a fragment is not allowed");
  std::string_view query;
  bool has_query = false;
  if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
    has_query = true;
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (authority && !rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return bad("a path is not allowed");
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    if (!authority) return bad("credentials go in the SCHEME://USER:PASSWORD@HOST form only");
    if (!u.is_turn()) return bad("a STUN server takes no credentials");
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t c = info.find(':');
    auto user = decode(info.substr(0, c));
    auto pass = decode(c == std::string_view::npos ? std::string_view() : info.substr(c + 1));
    if (!user || !pass) return bad("bad percent-encoding in the user name or password");
    if (user->empty() || c == std::string_view::npos)
      return bad("credentials must be USER:PASSWORD");
    u.username = std::move(*user);
    u.password = std::move(*pass);
  }
  std::string_view port;
  bool bracketed = !rest.empty() && rest.front() == '[';
  if (bracketed) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    u.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("junk after the host");
      port = rest.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    std::size_t c = rest.find(':');
    u.host = std::string(rest.substr(0, c));
    if (c != std::string_view::npos) {
      port = rest.substr(c + 1);
      if (port.empty()) return bad("empty port");
    }
  }
  if (!valid_host(u.host, bracketed)) return bad("bad host '" + u.host + "'");
  if (port.empty()) {
    u.port = row(u.scheme).port;
  } else {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return g_ascii_isdigit(c); }))
      return bad("bad port '" + std::string(port) + "'");
    unsigned p = static_cast<unsigned>(std::stoul(std::string(port)));
    if (p < 1 || p > 65535) return bad("port " + std::to_string(p) + " is out of range");
    u.port = p;
  }
  if (has_query) {
    auto allowed = transports_of(u.scheme);
    if (query.substr(0, 10) != "transport=")
      return bad(allowed.empty() ? std::string("a STUN URL takes no query")
                                 : "the only query is ?transport=" + allowed.front());
    std::string t(query.substr(10));
    for (char &c : t)
      c = g_ascii_tolower(c);
    if (std::find(allowed.begin(), allowed.end(), t) == allowed.end())
      return bad("transport '" + t + "' is not one of " + scheme + "'s (" +
                 std::string(row(u.scheme).transports) + ")");
    u.transport = t;
  }
  return u;
}

std::string gst_uri(const Uri &u) {
  std::string out = std::string(proto::to_string(u.scheme)) + "://";
  if (u.is_turn() && u.has_credentials())
    out += encode(u.username) + ":" + encode(u.password) + "@";
  out += host_port(u);
  if (!u.transport.empty()) out += "?transport=" + u.transport;
  return out;
}

std::string rtc_url(const Uri &u) {
  std::string out = std::string(proto::to_string(u.scheme)) + ":" + host_port(u);
  if (!u.transport.empty()) out += "?transport=" + u.transport;
  return out;
}

Credentials turn_rest_credentials(std::string_view secret, std::int64_t expires_unix,
                                  std::string_view id) {
  Credentials c;
  c.username = std::to_string(expires_unix);
  if (!id.empty()) c.username += ":" + std::string(id);
  g_autoptr(GHmac) hmac =
      g_hmac_new(G_CHECKSUM_SHA1, reinterpret_cast<const guchar *>(secret.data()), secret.size());
  g_hmac_update(hmac, reinterpret_cast<const guchar *>(c.username.data()),
                static_cast<gssize>(c.username.size()));
  guint8 digest[20];
  gsize len = sizeof digest;
  g_hmac_get_digest(hmac, digest, &len);
  g_autofree char *b64 = g_base64_encode(digest, len);
  c.credential = b64;
  return c;
}

bool check_setup(const ServerSetup &s, std::string *why) {
  for (const Uri &u : s.stun)
    if (u.is_turn() || u.has_credentials())
      return fail(why, "--stun takes a stun: URI without credentials");
  for (const Uri &u : s.turn) {
    if (!u.is_turn()) return fail(why, "--turn takes a turn: or turns: URI");
    if (!s.secret.empty() && u.has_credentials())
      return fail(why, "with a TURN secret, --turn URIs carry no user name or password (each "
                       "client gets its own)");
    if (s.secret.empty() && !u.has_credentials())
      return fail(why, "--turn " + rtc_url(u) +
                           " needs USER:PASSWORD@ (or a TURN secret, --turn-secret)");
  }
  if (!s.secret.empty() && s.turn.empty()) return fail(why, "a TURN secret needs --turn URIs");
  if (s.ttl_s < 1) return fail(why, "the TURN credentials' lifetime must be positive");
  if (s.stun.size() + s.turn.size() > proto::kMaxIceServers * proto::kMaxIceUrls)
    return fail(why, "too many ICE servers");
  return true;
}

std::vector<proto::IceServer> welcome_servers(const ServerSetup &s, std::int64_t now_unix,
                                              std::string_view id) {
  std::vector<proto::IceServer> out;
  // Entries hold at most kMaxIceUrls URLs each (check_setup bounds the total).
  auto add_urls = [&](const std::vector<Uri> &uris, const std::string &user,
                      const std::string &credential) {
    for (std::size_t i = 0; i < uris.size(); i += proto::kMaxIceUrls) {
      proto::IceServer e;
      for (std::size_t j = i; j < std::min(uris.size(), i + proto::kMaxIceUrls); j++)
        e.urls.push_back(rtc_url(uris[j]));
      e.username = user;
      e.credential = credential;
      out.push_back(std::move(e));
    }
  };
  if (!s.stun.empty()) add_urls(s.stun, "", "");
  if (!s.secret.empty()) {
    if (!s.turn.empty()) {
      Credentials c = turn_rest_credentials(s.secret, now_unix + s.ttl_s, id);
      add_urls(s.turn, c.username, c.credential);
    }
  } else {
    for (const Uri &u : s.turn)
      add_urls({u}, u.username, u.password);
  }
  return out;
}

GstServers gst_servers(const std::vector<proto::IceServer> &servers,
                       std::vector<std::string> *skipped) {
  GstServers out;
  auto skip = [&](const std::string &url, const std::string &why) {
    if (skipped) skipped->push_back(url + ": " + why);
  };
  for (const auto &e : servers) {
    for (const auto &url : e.urls) {
      std::string why;
      auto u = parse_uri(url, Form::Rtc, &why);
      if (!u) {
        skip(url, why);
        continue;
      }
      if (!u->is_turn()) {
        if (out.stun.empty()) out.stun = gst_uri(*u);
        continue;
      }
      if (e.username.empty()) {
        skip(url, "a TURN server without credentials");
        continue;
      }
      u->username = e.username;
      u->password = e.credential;
      out.turn.push_back(gst_uri(*u));
    }
  }
  return out;
}

GstServers choose_servers(const std::string &own_stun, const std::vector<std::string> &own_turn,
                          const GstServers &room) {
  auto normal = [](const std::string &uri) {
    auto u = parse_uri(uri);
    return u ? gst_uri(*u) : uri;
  };
  GstServers out = room;
  if (!own_stun.empty()) out.stun = normal(own_stun);
  if (!own_turn.empty()) {
    out.turn.clear();
    for (const auto &t : own_turn)
      out.turn.push_back(normal(t));
  }
  return out;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && g_ascii_isspace(text[i]))
      i++;
    std::size_t start = i;
    while (i < text.size() && !g_ascii_isspace(text[i]))
      i++;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string join_list(const std::vector<std::string> &uris) {
  std::string out;
  for (const auto &u : uris)
    out += (out.empty() ? "" : " ") + u;
  return out;
}

} // namespace roomcast::ice
