// WHEP egress: see whep.h.
#include "whep.h"

#include "protocol.h"
#include "tls.h"

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace roomcast::whep {

namespace p = proto;

namespace {

constexpr gsize kMaxBody = 64 * 1024;
constexpr guint kCandidatesWaitMs = 2000; // after the answer, for the host's last candidate
constexpr const char *kSessionPrefix = "/whep/session/";

void set_text(SoupServerMessage *msg, guint status, const std::string &text) {
  std::string body = text + "\n";
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(),
                                   body.size());
}

std::string body_of(SoupServerMessage *msg) {
  g_autoptr(GBytes) bytes = soup_message_body_flatten(soup_server_message_get_request_body(msg));
  return std::string(static_cast<const char *>(g_bytes_get_data(bytes, nullptr)),
                     g_bytes_get_size(bytes));
}

// The Bearer token of the request ("" when none).
std::string bearer(SoupServerMessage *msg) {
  const char *auth =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  if (!auth || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0) return {};
  std::string t = auth + 7;
  while (!t.empty() && g_ascii_isspace(t.front()))
    t.erase(0, 1);
  return t;
}

// The HTTP status for a join the server refused.
guint status_for(p::ErrorCode code) {
  switch (code) {
  case p::ErrorCode::TokenRequired:
    return SOUP_STATUS_UNAUTHORIZED;
  case p::ErrorCode::BadToken:
  case p::ErrorCode::Forbidden:
    return SOUP_STATUS_FORBIDDEN;
  case p::ErrorCode::WrongKind:
    return SOUP_STATUS_CONFLICT;
  case p::ErrorCode::RoomFull:
  case p::ErrorCode::ServerFull:
  case p::ErrorCode::TooManyRooms:
  case p::ErrorCode::TokenLimit:
  case p::ErrorCode::RoomNotOpen:
  case p::ErrorCode::RateLimited:
    return SOUP_STATUS_SERVICE_UNAVAILABLE;
  default:
    return SOUP_STATUS_BAD_GATEWAY;
  }
}

} // namespace

struct Session {
  std::string id, room, token, offer;
  std::string client;                    // the player's address
  SoupServerMessage *pending = nullptr;  // ref: the POST, paused until the answer
  SoupWebsocketConnection *ws = nullptr; // ref
  GCancellable *cancel = nullptr;        // ref: the WebSocket's connection
  std::string host;                      // the host's id, once welcomed
  std::string answer;                    // the host's answer, until sent
  std::vector<std::string> candidates;   // the host's, after its answer
  std::vector<std::string> queued;       // the player's (PATCH) before the host is known
  guint timeout = 0;
  bool answered = false; // the 201 went out
};

struct Endpoint::Impl {
  std::string ws_url, fingerprint;
  unsigned answer_timeout_ms = 8000;
  std::string client_secret;
  SoupSession *soup = nullptr; // ref
  std::map<std::string, std::unique_ptr<Session>> sessions;

  void post(SoupServerMessage *msg, const std::string &room);
  void patch(SoupServerMessage *msg, Session &s);
  void connected(Session &s, SoupWebsocketConnection *ws);
  void on_text(Session &s, const std::string &text);
  void respond(Session &s);
  // Answers a waiting POST with an error (if one waits) and ends the session.
  void fail(const std::string &id, guint status, const std::string &why);
  void end(const std::string &id);
  void send(Session &s, const p::Message &m);
  Session *find(const std::string &id) {
    auto it = sessions.find(id);
    return it == sessions.end() ? nullptr : it->second.get();
  }
};

namespace {
// What the asynchronous callbacks hold: the endpoint and the session's id (looked up again).
struct Ctx {
  Endpoint::Impl *impl;
  std::string id;
};
} // namespace

void Endpoint::Impl::send(Session &s, const p::Message &m) {
  if (!s.ws || soup_websocket_connection_get_state(s.ws) != SOUP_WEBSOCKET_STATE_OPEN) return;
  soup_websocket_connection_send_text(s.ws, p::serialize(m).c_str());
}

void Endpoint::Impl::end(const std::string &id) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  std::unique_ptr<Session> s = std::move(it->second);
  sessions.erase(it);
  if (s->timeout) g_source_remove(s->timeout);
  if (s->cancel) {
    g_cancellable_cancel(s->cancel);
    g_object_unref(s->cancel);
  }
  if (SoupServerMessage *msg = std::exchange(s->pending, nullptr)) {
    set_text(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the WHEP session ended before an answer");
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  }
  if (s->ws) {
    // (Its handlers look the session up by id: after this they find none.)
    if (soup_websocket_connection_get_state(s->ws) == SOUP_WEBSOCKET_STATE_OPEN) {
      soup_websocket_connection_send_text(s->ws,
                                          p::serialize(p::make_simple(p::Type::Leave)).c_str());
      soup_websocket_connection_close(s->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    }
    g_object_unref(s->ws);
  }
  g_message("whep session %s in room %s ended", s->id.c_str(), s->room.c_str());
}

void Endpoint::Impl::fail(const std::string &id, guint status, const std::string &why) {
  Session *s = find(id);
  if (!s) return;
  if (SoupServerMessage *msg = std::exchange(s->pending, nullptr)) {
    set_text(msg, status, why);
    soup_server_message_unpause(msg);
    g_object_unref(msg);
    g_message("whep session %s in room %s refused: %u %s", s->id.c_str(), s->room.c_str(), status,
              why.c_str());
  }
  end(id);
}

void Endpoint::Impl::respond(Session &s) {
  if (!s.pending || s.answer.empty()) return;
  if (s.timeout) g_source_remove(std::exchange(s.timeout, 0));
  // The host's candidates go into the answer's first media section (everything is bundled).
  std::string sdp = s.answer;
  if (!s.candidates.empty() && sdp.find("a=candidate:") == std::string::npos) {
    size_t m = sdp.find("\r\nm=");
    size_t next = m == std::string::npos ? std::string::npos : sdp.find("\r\nm=", m + 4);
    std::string lines;
    for (const auto &c : s.candidates)
      lines += "a=" + c + "\r\n";
    lines += "a=end-of-candidates\r\n";
    if (next == std::string::npos) {
      if (sdp.size() < 2 || sdp.compare(sdp.size() - 2, 2, "\r\n") != 0) sdp += "\r\n";
      sdp += lines;
    } else {
      sdp.insert(next + 2, lines);
    }
  }
  SoupServerMessage *msg = std::exchange(s.pending, nullptr);
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  const std::string location = kSessionPrefix + s.id;
  soup_message_headers_replace(h, "Location", location.c_str());
  soup_server_message_set_status(msg, SOUP_STATUS_CREATED, nullptr);
  soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, sdp.data(),
                                   sdp.size());
  soup_server_message_unpause(msg);
  g_object_unref(msg);
  s.answered = true;
  g_message("whep session %s in room %s answered by host %s (%zu candidates)", s.id.c_str(),
            s.room.c_str(), s.host.c_str(), s.candidates.size());
}

void Endpoint::Impl::on_text(Session &s, const std::string &text) {
  p::ParseError err;
  auto m = p::parse(text, err);
  if (!m) return;
  const std::string id = s.id;
  std::visit(
      p::overloaded{
          [&](const p::Welcome &w) {
            for (const auto &peer : w.peers)
              if (peer.role == p::Role::Host) s.host = peer.id;
            if (s.host.empty()) {
              fail(id, SOUP_STATUS_NOT_FOUND, "room '" + s.room + "' has no live host");
              return;
            }
            send(s, p::make_sdp(p::Type::Offer, s.host, s.offer));
            for (const auto &c : std::exchange(s.queued, {}))
              send(s, p::make_ice(s.host, 0, c));
          },
          [&](const p::Answer &a) {
            if (a.from != s.host || !s.answer.empty() || s.answered) return;
            s.answer = a.sdp;
            // Its candidates follow (trickled); answer once the last one came, or soon.
            s.timeout = g_timeout_add_full(
                G_PRIORITY_DEFAULT, kCandidatesWaitMs,
                [](gpointer data) -> gboolean {
                  auto *c = static_cast<Ctx *>(data);
                  if (Session *s = c->impl->find(c->id)) {
                    s->timeout = 0;
                    c->impl->respond(*s);
                  }
                  return G_SOURCE_REMOVE;
                },
                new Ctx{this, id}, [](gpointer d) { delete static_cast<Ctx *>(d); });
          },
          [&](const p::Ice &ice) {
            if (ice.from != s.host || s.answer.empty()) return;
            if (ice.candidate.empty()) { // end of candidates
              respond(s);
              return;
            }
            if (!s.answered) s.candidates.push_back(ice.candidate);
            // (After the answer went out the player has no way to get more: WHEP has no
            // server-to-player trickle. Non-trickle: wait for them all above.)
          },
          [&](const p::Offer &o) {
            if (o.from == s.host)
              fail(id, SOUP_STATUS_BAD_GATEWAY,
                   "the room's host offers instead of answering: it is a roomcast too old for "
                   "WHEP players");
          },
          [&](const p::Bye &b) {
            if (b.from != s.host) return;
            fail(id,
                 b.reason == p::EndReason::NoCommonCodec ? SOUP_STATUS_NOT_ACCEPTABLE
                 : b.reason == p::EndReason::MaxPeers    ? SOUP_STATUS_SERVICE_UNAVAILABLE
                                                         : SOUP_STATUS_BAD_GATEWAY,
                 std::string("the host ended the session (") + p::to_string(b.reason) + ")" +
                     (b.message.empty() ? "" : ": " + b.message));
          },
          [&](const p::PeerLeft &l) {
            if (l.id == s.host) fail(id, SOUP_STATUS_BAD_GATEWAY, "the host left the room");
          },
          [&](const p::Error &e) {
            fail(id, status_for(e.code),
                 std::string("the server refused: ") + p::to_string(e.code) +
                     (e.message.empty() ? "" : " (" + e.message + ")"));
          },
          [&](const p::Ping &) { send(s, p::make_simple(p::Type::Pong)); },
          [&](const auto &) {},
      },
      *m);
}

void Endpoint::Impl::connected(Session &s, SoupWebsocketConnection *ws) {
  s.ws = ws; // adopts the ref
  soup_websocket_connection_set_keepalive_interval(ws, 0);
  g_signal_connect_data(
      ws, "message",
      G_CALLBACK(+[](SoupWebsocketConnection *, gint type, GBytes *bytes, gpointer data) {
        auto *c = static_cast<Ctx *>(data);
        if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
        Session *s = c->impl->find(c->id);
        if (!s) return;
        gsize n = 0;
        const char *d = static_cast<const char *>(g_bytes_get_data(bytes, &n));
        c->impl->on_text(*s, std::string(d, n));
      }),
      new Ctx{this, s.id}, +[](gpointer d, GClosure *) { delete static_cast<Ctx *>(d); },
      GConnectFlags(0));
  g_signal_connect_data(
      ws, "closed", G_CALLBACK(+[](SoupWebsocketConnection *, gpointer data) {
        auto *c = static_cast<Ctx *>(data);
        c->impl->fail(c->id, SOUP_STATUS_BAD_GATEWAY, "the signalling connection closed");
      }),
      new Ctx{this, s.id}, +[](gpointer d, GClosure *) { delete static_cast<Ctx *>(d); },
      GConnectFlags(0));
  p::Join join = p::make_join(s.room, p::Role::Viewer, "WHEP player", s.token);
  join.offers = true;
  send(s, join);
}

void Endpoint::Impl::post(SoupServerMessage *msg, const std::string &room) {
  const char *type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (g_strcmp0(type, "application/sdp") != 0) {
    set_text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             std::string("a WHEP offer is application/sdp, not ") + (type ? type : "(none)"));
    return;
  }
  if (!p::valid_room_name(room)) {
    set_text(msg, SOUP_STATUS_NOT_FOUND, "no such room: POST to /whep/ROOM");
    return;
  }
  std::string sdp = body_of(msg);
  if (sdp.empty() || sdp.size() > kMaxBody || !g_utf8_validate(sdp.data(), sdp.size(), nullptr) ||
      !g_str_has_prefix(sdp.c_str(), "v=0") || sdp.find("\nm=") == std::string::npos) {
    set_text(msg, SOUP_STATUS_BAD_REQUEST,
             "the offer is not an SDP with media (v=0 ... m=...), or larger than 64 kB");
    return;
  }
  std::string token = bearer(msg);
  if (!token.empty() && !p::valid_token_text(token)) {
    set_text(msg, SOUP_STATUS_UNAUTHORIZED, "the Bearer token is malformed");
    return;
  }
  auto s = std::make_unique<Session>();
  const char *remote = soup_server_message_get_remote_host(msg);
  s->client = remote ? remote : "";
  g_autofree char *rnd = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
  s->id = rnd;
  s->room = room;
  s->token = std::move(token);
  s->offer = std::move(sdp);
  s->pending = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  soup_server_message_pause(msg);
  s->cancel = g_cancellable_new();
  s->timeout = g_timeout_add_full(
      G_PRIORITY_DEFAULT, answer_timeout_ms,
      [](gpointer data) -> gboolean {
        auto *c = static_cast<Ctx *>(data);
        if (Session *s = c->impl->find(c->id)) {
          s->timeout = 0;
          g_autofree char *why = g_strdup_printf("the room's host did not answer within %.1f s",
                                                 c->impl->answer_timeout_ms / 1000.0);
          c->impl->fail(c->id, SOUP_STATUS_GATEWAY_TIMEOUT, why);
        }
        return G_SOURCE_REMOVE;
      },
      new Ctx{this, s->id}, [](gpointer d) { delete static_cast<Ctx *>(d); });
  const std::string id = s->id;
  GCancellable *cancel = s->cancel;
  sessions.emplace(id, std::move(s));
  g_message("whep session %s for room %s: connecting", id.c_str(), room.c_str());

  SoupMessage *ws_msg = soup_message_new("GET", ws_url.c_str());
  if (!client_secret.empty() && !sessions.at(id)->client.empty()) {
    SoupMessageHeaders *headers = soup_message_get_request_headers(ws_msg);
    soup_message_headers_replace(headers, kSecretHeader, client_secret.c_str());
    soup_message_headers_replace(headers, kAddressHeader, sessions.at(id)->client.c_str());
  }
  if (!fingerprint.empty())
    g_signal_connect_data(
        ws_msg, "accept-certificate",
        G_CALLBACK(+[](SoupMessage *, GTlsCertificate *cert, GTlsCertificateFlags, gpointer fp) {
          // This server's own certificate, and no other.
          return gboolean(tls::fingerprint(cert) == static_cast<const char *>(fp));
        }),
        g_strdup(fingerprint.c_str()), +[](gpointer d, GClosure *) { g_free(d); },
        GConnectFlags(0));
  soup_session_websocket_connect_async(
      soup, ws_msg, nullptr, nullptr, G_PRIORITY_DEFAULT, cancel,
      [](GObject *src, GAsyncResult *res, gpointer data) {
        auto *c = static_cast<Ctx *>(data);
        g_autoptr(GError) err = nullptr;
        SoupWebsocketConnection *ws =
            soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
          if (Session *s = c->impl->find(c->id)) {
            if (ws)
              c->impl->connected(*s, ws);
            else
              c->impl->fail(c->id, SOUP_STATUS_BAD_GATEWAY,
                            std::string("cannot reach the signalling endpoint: ") + err->message);
            ws = nullptr;
          }
        }
        if (ws) g_object_unref(ws);
        delete c;
      },
      new Ctx{this, id});
  g_object_unref(ws_msg);
}

void Endpoint::Impl::patch(SoupServerMessage *msg, Session &s) {
  const char *type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (g_strcmp0(type, "application/trickle-ice-sdpfrag") != 0) {
    set_text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             "PATCH takes application/trickle-ice-sdpfrag (candidates)");
    return;
  }
  std::string text = body_of(msg);
  if (text.size() > kMaxBody || !g_utf8_validate(text.data(), text.size(), nullptr)) {
    set_text(msg, SOUP_STATUS_BAD_REQUEST, "the fragment is not text, or too large");
    return;
  }
  g_auto(GStrv) lines = g_strsplit(text.c_str(), "\n", -1);
  for (char **l = lines; *l; l++) {
    g_strstrip(*l);
    if (!g_str_has_prefix(*l, "a=candidate:")) continue;
    if (s.host.empty())
      s.queued.emplace_back(*l + 2);
    else
      send(s, p::make_ice(s.host, 0, *l + 2));
  }
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

Endpoint::Endpoint(std::string ws_url, std::string fingerprint, unsigned answer_timeout_ms,
                   std::string client_secret)
    : impl_(std::make_unique<Impl>()) {
  impl_->client_secret = std::move(client_secret);
  impl_->ws_url = std::move(ws_url);
  impl_->fingerprint = std::move(fingerprint);
  impl_->answer_timeout_ms = answer_timeout_ms;
  impl_->soup = soup_session_new();
}

Endpoint::~Endpoint() {
  close_all();
  g_object_unref(impl_->soup);
}

void Endpoint::close_all() {
  while (!impl_->sessions.empty())
    impl_->fail(impl_->sessions.begin()->first, SOUP_STATUS_SERVICE_UNAVAILABLE,
                "the server is stopping");
}

size_t Endpoint::sessions() const {
  return impl_->sessions.size();
}

bool Endpoint::handle(SoupServerMessage *msg, const char *path) {
  if (!g_str_has_prefix(path, "/whep")) return false;
  const std::string p = path;
  if (p != "/whep" && p.compare(0, 6, "/whep/") != 0) return false;
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location, Accept-Post");
  const char *method = soup_server_message_get_method(msg);
  const bool resource = g_str_has_prefix(path, kSessionPrefix);
  if (g_str_equal(method, "OPTIONS")) {
    soup_message_headers_replace(h, "Access-Control-Allow-Methods",
                                 resource ? "PATCH, DELETE, OPTIONS" : "POST, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers",
                                 "Authorization, Content-Type, If-Match");
    if (!resource) soup_message_headers_replace(h, "Accept-Post", "application/sdp");
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
    return true;
  }
  if (resource) {
    Session *s = impl_->find(p.substr(strlen(kSessionPrefix)));
    if (!s || !s->answered) {
      set_text(msg, SOUP_STATUS_NOT_FOUND, "no such WHEP session (it ended, or never was)");
      return true;
    }
    if (g_str_equal(method, "DELETE")) {
      impl_->end(s->id);
      soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    } else if (g_str_equal(method, "PATCH")) {
      impl_->patch(msg, *s);
    } else {
      soup_message_headers_replace(h, "Allow", "PATCH, DELETE, OPTIONS");
      set_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "a WHEP session takes PATCH and DELETE");
    }
    return true;
  }
  std::string room = p.size() > 6 ? p.substr(6) : std::string();
  if (!room.empty() && room.back() == '/') room.pop_back();
  if (!g_str_equal(method, "POST")) {
    soup_message_headers_replace(h, "Allow", "POST, OPTIONS");
    set_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
             "POST a WHEP offer (application/sdp) to /whep/ROOM");
    return true;
  }
  impl_->post(msg, room);
  return true;
}

} // namespace roomcast::whep
