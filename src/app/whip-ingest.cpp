// WHIP ingest (RFC 9725): see whip-ingest.h.
#include "whip-ingest.h"

#include "console.h"
#include "gst-threads.h"
#include "tls.h"
#include "token.h"

#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <libsoup/soup.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace roomcast::app {

namespace {

constexpr gsize kMaxBody = 64 * 1024; // an SDP offer is a few kB

const char *encoding_name(const std::string &codec) {
  if (codec == "vp9") return "VP9";
  if (codec == "h264") return "H264";
  if (codec == "opus") return "OPUS";
  return "VP8";
}

const char *depayloader(const std::string &codec) {
  if (codec == "vp9") return "rtpvp9depay";
  if (codec == "h264") return "rtph264depay";
  return "rtpvp8depay";
}

// Constant-time comparison of two secrets (their lengths are not hidden).
bool same_secret(const std::string &a, const std::string &b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++)
    d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// The payload number the offer's m-line gives our codec (H.264: packetization-mode 1), or -1.
int offered_pt(const GstSDPMedia *media, const std::string &codec) {
  const char *want = encoding_name(codec);
  for (guint i = 0; i < gst_sdp_media_formats_len(media); i++) {
    int pt = atoi(gst_sdp_media_get_format(media, i));
    g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media(media, pt);
    if (!caps || gst_caps_is_empty(caps)) continue;
    const GstStructure *s = gst_caps_get_structure(caps, 0);
    const char *enc = gst_structure_get_string(s, "encoding-name");
    if (!enc || g_ascii_strcasecmp(enc, want) != 0) continue;
    if (codec == "h264" && g_strcmp0(gst_structure_get_string(s, "packetization-mode"), "1") != 0)
      continue;
    return pt;
  }
  return -1;
}

} // namespace

bool parse_whip_listen(const char *arg, std::string &host, unsigned &port) {
  std::string a = arg ? arg : "";
  std::string p = a;
  if (!a.empty() && a[0] == '[') { // [v6]:port
    size_t close = a.find(']');
    if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':') return false;
    host = a.substr(1, close - 1);
    p = a.substr(close + 2);
  } else if (size_t colon = a.rfind(':'); colon != std::string::npos) {
    if (a.find(':') != colon) return false; // a bare IPv6 address needs brackets
    host = a.substr(0, colon);
    p = a.substr(colon + 1);
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  unsigned long v = strtoul(p.c_str(), nullptr, 10);
  if (v > 65535 || host.empty()) return false;
  port = unsigned(v);
  return true;
}

GstElement *build_whip_pipeline(bool audio, GstElement **sink_out) {
  GstElement *pipeline = GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new("whip-host")));
  GstElement *sink = gst_element_factory_make("roomcastsink", "roomcast");
  if (!sink) {
    g_printerr("roomcast live: the roomcastsink element is missing\n");
    gst_object_unref(pipeline);
    return nullptr;
  }
  gst_bin_add(GST_BIN(pipeline), sink);
  // Requested now: the sink takes no new stream once started. It stays unlinked (and viewers
  // wait) until a publisher's stream comes.
  GstPad *pad = gst_element_request_pad_simple(sink, "video_0");
  if (!pad) {
    g_printerr("roomcast live: roomcastsink gave no video pad\n");
    gst_object_unref(pipeline);
    return nullptr;
  }
  gst_object_unref(pad); // the sink keeps it
  if (audio) {
    GstPad *apad = gst_element_request_pad_simple(sink, "audio_0");
    if (!apad) {
      g_printerr("roomcast live: roomcastsink gave no audio pad\n");
      gst_object_unref(pipeline);
      return nullptr;
    }
    gst_object_unref(apad);
  }
  *sink_out = GST_ELEMENT(gst_object_ref(sink));
  return pipeline;
}

// ---- the endpoint
// --------------------------------------------------------------------------------

struct Session {
  guint64 n = 0;
  std::string id;                       // the resource's name
  GstElement *webrtc = nullptr;         // ref; in the pipeline
  SoupServerMessage *pending = nullptr; // ref: the POST waiting for the answer (paused)
  guint timeout = 0;
  bool local_set = false; // our answer is the local description
  bool gathered = false;  // ICE gathering complete
  bool flowing = false;   // the publisher's video reached the sink
  bool connected = false; // ICE and DTLS up
  gint64 answered_us = 0; // when the 201 went out
  // When the publisher's last video buffer passed (streaming thread writes, main loop reads).
  std::shared_ptr<std::atomic<gint64>> media = std::make_shared<std::atomic<gint64>>(0);
  std::vector<std::pair<guint, std::string>> candidates; // ours, as gathered
};

struct WhipIngest::Impl {
  GstElement *pipeline; // ref
  GstElement *sink;     // ref
  WhipOptions opts;
  GMainContext *ctx = nullptr; // ref, once started
  SoupServer *soup = nullptr;  // ref
  std::string url;
  std::unique_ptr<Session> session;
  guint64 next_n = 1;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  // Runs fn on the main context if this Impl and the session `n` are still there.
  void post(guint64 n, std::function<void(Impl &, Session &)> fn);
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer data);
  void handle(SoupServerMessage *msg, const char *path);
  void handle_post(SoupServerMessage *msg);
  void handle_patch(SoupServerMessage *msg);
  bool authorized(SoupServerMessage *msg);
  void respond_answer(Session &s);
  void fail_pending(Session &s, guint status, const std::string &why);
  void end_session(const char *why);
  // The publisher's first frame came: says so (with the encoders in this process: none) and dumps
  // the pipeline, once roomcastsink has made its payloader for the stream (it does that on its
  // own worker, a moment after the first frame: retried every 100 ms, at most 5 s).
  void report_flowing(Session &s, int tries);
  void on_pad_added(guint64 n, GstPad *pad, std::shared_ptr<std::atomic<gint64>> media);
  // Every second: a session whose publisher went silent, or never connected, ends.
  static gboolean watchdog(gpointer data);
  guint watchdog_source = 0;
};

namespace {

struct CbData {
  std::shared_ptr<bool> alive;
  WhipIngest::Impl *impl;
  guint64 n;
  std::shared_ptr<std::atomic<gint64>> media = nullptr; // the session's (pad-added)
};

void free_cb(gpointer data, GClosure *) {
  delete static_cast<CbData *>(data);
}

void set_text(SoupServerMessage *msg, guint status, const std::string &text) {
  std::string body = text + "\n";
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(),
                                   body.size());
}

void cors(SoupServerMessage *msg) {
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(h, "Access-Control-Expose-Headers", "Location, ETag, Accept-Post");
}

} // namespace

void WhipIngest::Impl::report_flowing(Session &s, int tries) {
  if (s.flowing) return;
  // What encodes media in this process (codec encoders): none, when the stream passes as it is.
  std::string encoders;
  bool payloaded = false;
  g_autoptr(GstIterator) it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    auto *el = GST_ELEMENT(g_value_get_object(&v));
    GstElementFactory *f = gst_element_get_factory(el);
    const char *klass =
        f ? gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS) : nullptr;
    if (klass && strstr(klass, "Codec/Encoder")) // not DTLS/SRTP "Encoder"s
      encoders += (encoders.empty() ? "" : ", ") + std::string(GST_OBJECT_NAME(f));
    if (klass && strstr(klass, "Codec/Payloader")) payloaded = true;
    g_value_reset(&v);
  }
  g_value_unset(&v);
  if (!payloaded && tries < 50) {
    struct Retry {
      Impl *impl;
      guint64 n;
      int tries;
      std::shared_ptr<bool> alive;
    };
    GSource *timer = g_timeout_source_new(100); // on this ingest's context, as post()
    g_source_set_callback(
        timer,
        [](gpointer d) -> gboolean {
          auto *r = static_cast<Retry *>(d);
          if (*r->alive && r->impl->session && r->impl->session->n == r->n)
            r->impl->report_flowing(*r->impl->session, r->tries + 1);
          return G_SOURCE_REMOVE;
        },
        new Retry{this, s.n, tries, alive}, [](gpointer d) { delete static_cast<Retry *>(d); });
    g_source_attach(timer, ctx);
    g_source_unref(timer);
    return;
  }
  s.flowing = true;
  GST_DEBUG_BIN_TO_DOT_FILE(GST_BIN(pipeline), GST_DEBUG_GRAPH_SHOW_ALL, "whip-publishing");
  console::event("WHIP publisher's %s video reaches the room (encoders in this process: %s)",
                 encoding_name(opts.codec), encoders.empty() ? "none" : encoders.c_str());
}

void WhipIngest::Impl::post(guint64 n, std::function<void(Impl &, Session &)> fn) {
  struct Call {
    std::shared_ptr<bool> alive;
    Impl *impl;
    guint64 n;
    std::function<void(Impl &, Session &)> fn;
  };
  auto *c = new Call{alive, this, n, std::move(fn)};
  g_main_context_invoke_full(
      ctx, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        auto *c = static_cast<Call *>(data);
        if (*c->alive && c->impl->session && c->impl->session->n == c->n)
          c->fn(*c->impl, *c->impl->session);
        return G_SOURCE_REMOVE;
      },
      c, [](gpointer data) { delete static_cast<Call *>(data); });
}

void WhipIngest::Impl::on_request(SoupServer *, SoupServerMessage *msg, const char *path,
                                  GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle(msg, path);
}

bool WhipIngest::Impl::authorized(SoupServerMessage *msg) {
  if (opts.secret.empty() && opts.token_secret.empty()) return true;
  const char *auth =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  if (!auth || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0) {
    soup_message_headers_replace(h, "WWW-Authenticate", "Bearer realm=\"roomcast WHIP\"");
    set_text(msg, SOUP_STATUS_UNAUTHORIZED,
             "this WHIP endpoint needs a token: Authorization: Bearer TOKEN");
    return false;
  }
  std::string tok = auth + 7;
  while (!tok.empty() && g_ascii_isspace(tok.front()))
    tok.erase(0, 1);
  if (!opts.secret.empty() && same_secret(tok, opts.secret)) return true;
  std::string why = "the token is not this endpoint's";
  if (!opts.token_secret.empty()) {
    auto v = token::verify(tok, opts.token_secret, opts.room, proto::Role::Host,
                           g_get_real_time() / G_USEC_PER_SEC);
    if (v) return true;
    why = "the token is refused: " + v.why;
  }
  soup_message_headers_replace(h, "WWW-Authenticate",
                               "Bearer realm=\"roomcast WHIP\", error=\"invalid_token\"");
  set_text(msg, SOUP_STATUS_UNAUTHORIZED, why);
  return false;
}

void WhipIngest::Impl::handle(SoupServerMessage *msg, const char *path) {
  cors(msg);
  const char *method = soup_server_message_get_method(msg);
  const std::string p = path;
  const bool endpoint = p == "/whip" || p == "/whip/";
  const std::string prefix = "/whip/session/";
  const bool resource = g_str_has_prefix(path, prefix.c_str());
  if (!endpoint && !resource) {
    set_text(msg, SOUP_STATUS_NOT_FOUND, "not found: the WHIP endpoint is /whip");
    return;
  }
  if (g_str_equal(method, "OPTIONS")) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Access-Control-Allow-Methods",
                                 endpoint ? "POST, OPTIONS" : "PATCH, DELETE, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers",
                                 "Authorization, Content-Type, If-Match");
    if (endpoint) soup_message_headers_replace(h, "Accept-Post", "application/sdp");
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
    return;
  }
  if (endpoint) {
    if (!g_str_equal(method, "POST")) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                   "POST, OPTIONS");
      set_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "POST an SDP offer (application/sdp) here");
      return;
    }
    if (!authorized(msg)) return;
    handle_post(msg);
    return;
  }
  const std::string id = p.substr(prefix.size());
  if (!session || session->id != id) {
    set_text(msg, SOUP_STATUS_NOT_FOUND, "no such WHIP session (it ended, or never was)");
    return;
  }
  if (g_str_equal(method, "DELETE")) {
    if (!authorized(msg)) return;
    end_session("the publisher ended the session (DELETE)");
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    return;
  }
  if (g_str_equal(method, "PATCH")) {
    if (!authorized(msg)) return;
    handle_patch(msg);
    return;
  }
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                               "PATCH, DELETE, OPTIONS");
  set_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "a WHIP session takes PATCH and DELETE");
}

// The publisher's candidates that came after its offer (trickle ICE, RFC 8840 fragments).
void WhipIngest::Impl::handle_patch(SoupServerMessage *msg) {
  const char *type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (g_strcmp0(type, "application/trickle-ice-sdpfrag") != 0) {
    set_text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             "PATCH takes application/trickle-ice-sdpfrag (candidates)");
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  std::string text(static_cast<const char *>(g_bytes_get_data(bytes, nullptr)),
                   g_bytes_get_size(bytes));
  g_auto(GStrv) lines = g_strsplit(text.c_str(), "\n", -1);
  int added = 0;
  for (char **l = lines; *l; l++) {
    g_strstrip(*l);
    if (g_str_has_prefix(*l, "a=ice-ufrag:")) {
      // A new ufrag is an ICE restart, which we do not do.
      std::string ufrag = *l + strlen("a=ice-ufrag:");
      g_autoptr(GstWebRTCSessionDescription) remote = nullptr;
      g_object_get(session->webrtc, "remote-description", &remote, nullptr);
      const char *have = remote && gst_sdp_message_medias_len(remote->sdp)
                             ? gst_sdp_media_get_attribute_val(
                                   gst_sdp_message_get_media(remote->sdp, 0), "ice-ufrag")
                             : nullptr;
      if (!have)
        have = remote ? gst_sdp_message_get_attribute_val(remote->sdp, "ice-ufrag") : nullptr;
      if (have && ufrag != have) {
        set_text(msg, SOUP_STATUS_UNPROCESSABLE_ENTITY,
                 "ICE restarts are not supported: end the session (DELETE) and POST a new offer");
        return;
      }
    }
    if (g_str_has_prefix(*l, "a=candidate:")) {
      g_signal_emit_by_name(session->webrtc, "add-ice-candidate", 0u, *l + 2);
      added++;
    }
  }
  g_debug("whip: %d trickled candidate(s)", added);
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

void WhipIngest::Impl::handle_post(SoupServerMessage *msg) {
  const char *type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (g_strcmp0(type, "application/sdp") != 0) {
    set_text(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
             std::string("a WHIP offer is application/sdp, not ") + (type ? type : "(none)"));
    return;
  }
  if (session) {
    set_text(msg, SOUP_STATUS_CONFLICT,
             "a publisher is already live here; it must end its session (DELETE) first");
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  gsize len = g_bytes_get_size(bytes);
  if (len == 0 || len > kMaxBody) {
    set_text(msg, len ? SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE : SOUP_STATUS_BAD_REQUEST,
             len ? "the offer is too large" : "the offer is empty");
    return;
  }
  std::string text(static_cast<const char *>(g_bytes_get_data(bytes, nullptr)), len);
  if (!g_utf8_validate(text.data(), text.size(), nullptr) ||
      !g_str_has_prefix(text.c_str(), "v=0")) {
    set_text(msg, SOUP_STATUS_BAD_REQUEST, "the offer is not an SDP (it must start with v=0)");
    return;
  }
  GstSDPMessage *sdp = nullptr;
  gst_sdp_message_new_from_text(text.c_str(), &sdp);
  if (!sdp || gst_sdp_message_medias_len(sdp) == 0) {
    if (sdp) gst_sdp_message_free(sdp);
    set_text(msg, SOUP_STATUS_BAD_REQUEST, "the offer has no media (m=) section");
    return;
  }
  int pt = -1;
  const GstSDPMedia *video = nullptr;
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp) && pt < 0; i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "video") != 0) continue;
    pt = offered_pt(m, opts.codec);
    if (pt >= 0) video = m;
  }
  if (pt < 0) {
    gst_sdp_message_free(sdp);
    set_text(msg, SOUP_STATUS_NOT_ACCEPTABLE,
             std::string("the offer has no ") + encoding_name(opts.codec) +
                 " video: this host takes " + encoding_name(opts.codec) +
                 (opts.codec == "h264" ? " (packetization-mode 1)" : "") +
                 " (roomcast live --codec), and passes it on without re-encoding");
    return;
  }
  // --audio: the publisher's Opus goes to the room as it is too (and must be there).
  int apt = -1;
  const GstSDPMedia *audio = nullptr;
  for (guint i = 0; opts.audio && i < gst_sdp_message_medias_len(sdp) && apt < 0; i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0) continue;
    apt = offered_pt(m, "opus");
    if (apt >= 0) audio = m;
  }
  if (opts.audio && apt < 0) {
    gst_sdp_message_free(sdp);
    set_text(msg, SOUP_STATUS_NOT_ACCEPTABLE,
             "the offer has no Opus audio: this host was started with --audio and passes the "
             "publisher's Opus on");
    return;
  }
  // Our receive transceivers, under the offer's own payload numbers (webrtcbin 1.22 matches an
  // offered m-line to a transceiver by payload number): the answer accepts these codecs only.
  auto recv_caps = [](const GstSDPMedia *m, int number, const char *kind) {
    GstCaps *c = gst_sdp_media_get_caps_from_media(m, number);
    GstStructure *st = gst_caps_get_structure(c, 0);
    gst_structure_set_name(st, "application/x-rtp");
    gst_structure_set(st, "media", G_TYPE_STRING, kind, "payload", G_TYPE_INT, number, nullptr);
    return c;
  };
  GstCaps *caps = recv_caps(video, pt, "video");
  GstCaps *acaps = audio ? recv_caps(audio, apt, "audio") : nullptr;
  GstWebRTCSessionDescription *offer =
      gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);

  auto s = std::make_unique<Session>();
  s->n = next_n++;
  g_autofree char *rnd = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
  s->id = rnd;
  g_autofree char *name = g_strdup_printf("whip%" G_GUINT64_FORMAT "-webrtcbin", s->n);
  GstElement *webrtc = gst_element_factory_make("webrtcbin", name);
  if (!webrtc) {
    gst_caps_unref(caps);
    gst_webrtc_session_description_free(offer);
    set_text(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
             "webrtcbin is missing (gstreamer1.0-plugins-bad)");
    return;
  }
  s->webrtc = GST_ELEMENT(gst_object_ref_sink(webrtc));
  g_object_set(webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 100u,
               nullptr);
  if (!opts.stun.empty()) g_object_set(webrtc, "stun-server", opts.stun.c_str(), nullptr);
  if (opts.ice_loopback) {
    GstObject *ice = nullptr;
    g_object_get(webrtc, "ice-agent", &ice, nullptr);
    if (ice) {
      // Once one address is added libnice gathers only added ones: the machine's own too.
      std::vector<std::string> addrs = tls::local_addresses();
      addrs.insert(addrs.begin(), "127.0.0.1");
      for (const auto &a : addrs) {
        gboolean ok = FALSE;
        g_signal_emit_by_name(ice, "add-local-ip-address", a.c_str(), &ok);
      }
      g_object_set(ice, "ice-tcp", FALSE, nullptr);
      gst_object_unref(ice);
    }
  }
  const guint64 n = s->n;
  g_signal_connect_data(webrtc, "pad-added",
                        G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer data) {
                          auto *c = static_cast<CbData *>(data);
                          if (*c->alive) c->impl->on_pad_added(c->n, pad, c->media);
                        }),
                        new CbData{alive, this, n, s->media}, free_cb, GConnectFlags(0));
  g_signal_connect_data(webrtc, "on-ice-candidate",
                        G_CALLBACK(+[](GstElement *, guint mline, const char *cand, gpointer data) {
                          auto *c = static_cast<CbData *>(data);
                          std::string text = cand ? cand : "";
                          c->impl->post(c->n, [mline, text](Impl &, Session &s) {
                            if (!text.empty()) s.candidates.emplace_back(mline, text);
                          });
                        }),
                        new CbData{alive, this, n}, free_cb, GConnectFlags(0));
  g_signal_connect_data(webrtc, "notify::ice-gathering-state",
                        G_CALLBACK(+[](GstElement *w, GParamSpec *, gpointer data) {
                          auto *c = static_cast<CbData *>(data);
                          GstWebRTCICEGatheringState st;
                          g_object_get(w, "ice-gathering-state", &st, nullptr);
                          if (st != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
                          c->impl->post(c->n, [](Impl &impl, Session &s) {
                            s.gathered = true;
                            impl.respond_answer(s);
                          });
                        }),
                        new CbData{alive, this, n}, free_cb, GConnectFlags(0));
  g_signal_connect_data(webrtc, "notify::connection-state",
                        G_CALLBACK(+[](GstElement *w, GParamSpec *, gpointer data) {
                          auto *c = static_cast<CbData *>(data);
                          GstWebRTCPeerConnectionState st;
                          g_object_get(w, "connection-state", &st, nullptr);
                          c->impl->post(c->n, [st](Impl &impl, Session &s) {
                            if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED &&
                                !std::exchange(s.connected, true))
                              console::event("WHIP publisher connected");
                            else if (st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED ||
                                     st == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED)
                              impl.end_session(st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED
                                                   ? "the publisher's connection failed"
                                                   : "the publisher's connection closed");
                          });
                        }),
                        new CbData{alive, this, n}, free_cb, GConnectFlags(0));

  gst_bin_add(GST_BIN(pipeline), webrtc);
  roomcast::sync_to_target(webrtc);
  GstWebRTCRTPTransceiver *trans = nullptr;
  g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                        caps, &trans);
  gst_caps_unref(caps);
  if (trans) gst_object_unref(trans);
  if (acaps) {
    GstWebRTCRTPTransceiver *atrans = nullptr;
    g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                          acaps, &atrans);
    gst_caps_unref(acaps);
    if (atrans) gst_object_unref(atrans);
  }

  s->pending = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  soup_server_message_pause(msg);
  s->timeout = g_timeout_add_seconds_full(
      G_PRIORITY_DEFAULT, opts.answer_timeout_s,
      [](gpointer data) -> gboolean {
        auto *c = static_cast<CbData *>(data);
        Impl *impl = c->impl;
        if (!*c->alive || !impl->session || impl->session->n != c->n) return G_SOURCE_REMOVE;
        Session &s = *impl->session;
        s.timeout = 0;
        if (s.local_set && !s.candidates.empty()) {
          // Gathering goes on (a STUN server that does not answer): answer with what we have.
          s.gathered = true;
          impl->respond_answer(s);
        } else {
          impl->fail_pending(s, SOUP_STATUS_GATEWAY_TIMEOUT,
                             "no answer could be made in time (see the host's log)");
        }
        return G_SOURCE_REMOVE;
      },
      new CbData{alive, this, n}, [](gpointer d) { delete static_cast<CbData *>(d); });
  session = std::move(s);
  console::event("WHIP publisher offered %s (payload %d); answering", encoding_name(opts.codec),
                 pt);

  // Offer in, answer out; the promise replies come on webrtcbin's thread.
  auto *cb = new CbData{alive, this, n};
  GstPromise *promise = gst_promise_new_with_change_func(
      [](GstPromise *p, gpointer data) {
        auto *c = static_cast<CbData *>(data);
        const GstStructure *r = gst_promise_get_reply(p);
        GError *err = nullptr;
        if (r) gst_structure_get(r, "error", G_TYPE_ERROR, &err, nullptr);
        if (err || gst_promise_wait(p) != GST_PROMISE_RESULT_REPLIED) {
          std::string why = err ? err->message : "the offer was not applied";
          g_clear_error(&err);
          c->impl->post(c->n, [why](Impl &impl, Session &s) {
            impl.fail_pending(s, SOUP_STATUS_BAD_REQUEST, "the offer was refused: " + why);
          });
          return;
        }
        c->impl->post(c->n, [](Impl &impl, Session &s) {
          auto *cb2 = new CbData{impl.alive, &impl, s.n};
          GstPromise *answered = gst_promise_new_with_change_func(
              [](GstPromise *p, gpointer data) {
                auto *c = static_cast<CbData *>(data);
                const GstStructure *r = gst_promise_get_reply(p);
                GstWebRTCSessionDescription *answer = nullptr;
                GError *err = nullptr;
                if (r)
                  gst_structure_get(r, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer,
                                    "error", G_TYPE_ERROR, &err, nullptr);
                if (!answer) {
                  std::string why = err ? err->message : "no answer";
                  g_clear_error(&err);
                  c->impl->post(c->n, [why](Impl &impl, Session &s) {
                    impl.fail_pending(s, SOUP_STATUS_BAD_REQUEST,
                                      "cannot answer the offer: " + why);
                  });
                  return;
                }
                std::shared_ptr<GstWebRTCSessionDescription> ans(
                    answer, gst_webrtc_session_description_free);
                c->impl->post(c->n, [ans](Impl &impl, Session &s) {
                  g_signal_emit_by_name(s.webrtc, "set-local-description", ans.get(), nullptr);
                  s.local_set = true;
                  GstWebRTCICEGatheringState st;
                  g_object_get(s.webrtc, "ice-gathering-state", &st, nullptr);
                  if (st == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) s.gathered = true;
                  impl.respond_answer(s);
                });
              },
              cb2, [](gpointer d) { delete static_cast<CbData *>(d); });
          g_signal_emit_by_name(s.webrtc, "create-answer", nullptr, answered);
        });
      },
      cb, [](gpointer d) { delete static_cast<CbData *>(d); });
  g_signal_emit_by_name(webrtc, "set-remote-description", offer, promise);
  gst_webrtc_session_description_free(offer);
}

// Sends the answer once it is our local description and gathering is complete.
void WhipIngest::Impl::respond_answer(Session &s) {
  if (!s.pending || !s.local_set || !s.gathered) return;
  g_autoptr(GstWebRTCSessionDescription) local = nullptr;
  g_object_get(s.webrtc, "local-description", &local, nullptr);
  if (!local) {
    fail_pending(s, SOUP_STATUS_INTERNAL_SERVER_ERROR, "no local description");
    return;
  }
  // Non-trickle: every candidate in the answer (webrtcbin may not have written them in).
  GstSDPMessage *sdp = nullptr;
  gst_sdp_message_copy(local->sdp, &sdp);
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
    GstSDPMedia *m = const_cast<GstSDPMedia *>(gst_sdp_message_get_media(sdp, i));
    if (gst_sdp_media_get_attribute_val(m, "candidate")) continue;
    bool any = false;
    for (auto &[mline, cand] : s.candidates) {
      if (mline != i) continue;
      const char *v =
          g_str_has_prefix(cand.c_str(), "candidate:") ? cand.c_str() + 10 : cand.c_str();
      gst_sdp_media_add_attribute(m, "candidate", v);
      any = true;
    }
    if (any) gst_sdp_media_add_attribute(m, "end-of-candidates", "");
  }
  g_autofree char *text = gst_sdp_message_as_text(sdp);
  gst_sdp_message_free(sdp);
  SoupServerMessage *msg = std::exchange(s.pending, nullptr);
  if (s.timeout) g_source_remove(std::exchange(s.timeout, 0));
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  const std::string location = "/whip/session/" + s.id;
  soup_message_headers_replace(h, "Location", location.c_str());
  soup_server_message_set_status(msg, SOUP_STATUS_CREATED, nullptr);
  soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, text, strlen(text));
  soup_server_message_unpause(msg);
  g_object_unref(msg);
  s.answered_us = g_get_monotonic_time();
  console::event("WHIP session %s answered (%zu candidate(s))", location.c_str(),
                 s.candidates.size());
}

void WhipIngest::Impl::fail_pending(Session &s, guint status, const std::string &why) {
  if (SoupServerMessage *msg = std::exchange(s.pending, nullptr)) {
    set_text(msg, status, why);
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  }
  g_printerr("roomcast live: WHIP: %s\n", why.c_str());
  end_session(nullptr);
}

// Streaming thread: a pad of the publisher's stream. Our codec goes to the sink (depayloaded
// only); anything else (its audio) is dropped.
void WhipIngest::Impl::on_pad_added(guint64 n, GstPad *pad,
                                    std::shared_ptr<std::atomic<gint64>> media) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure *st =
      caps && !gst_caps_is_empty(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  const char *enc = st ? gst_structure_get_string(st, "encoding-name") : nullptr;
  const bool video = enc && !g_ascii_strcasecmp(enc, encoding_name(opts.codec));
  const bool audio = !video && opts.audio && enc && !g_ascii_strcasecmp(enc, "OPUS");
  const bool ours = video || audio;
  g_autoptr(GstPad) target = gst_element_get_static_pad(sink, video ? "video_0" : "audio_0");
  g_autofree char *name = g_strdup_printf("whip%" G_GUINT64_FORMAT "-%s", n,
                                          video   ? "depay"
                                          : audio ? "audio-depay"
                                                  : "drop");
  GstElement *e = gst_element_factory_make(video   ? depayloader(opts.codec)
                                           : audio ? "rtpopusdepay"
                                                   : "fakesink",
                                           name);
  if (!e) return;
  if (video) {
    // Wait for a keyframe after loss and ask for one (PLI) then.
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "request-keyframe"))
      g_object_set(e, "request-keyframe", TRUE, nullptr);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "wait-for-keyframe"))
      g_object_set(e, "wait-for-keyframe", TRUE, nullptr);
  } else if (!ours) {
    g_object_set(e, "sync", FALSE, "async", FALSE, nullptr);
  }
  gst_bin_add(GST_BIN(pipeline), e);
  g_autoptr(GstPad) esink = gst_element_get_static_pad(e, "sink");
  if (ours) {
    g_autoptr(GstPad) esrc = gst_element_get_static_pad(e, "src");
    // The sink must never see the publisher's end of stream: the room outlives a publisher.
    gst_pad_add_probe(
        esrc, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        [](GstPad *, GstPadProbeInfo *info, gpointer) {
          return GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS
                     ? GST_PAD_PROBE_DROP
                     : GST_PAD_PROBE_OK;
        },
        nullptr, nullptr);
  }
  if (video) {
    g_autoptr(GstPad) esrc = gst_element_get_static_pad(e, "src");
    // Every frame: when the last one came (the watchdog ends a silent session).
    gst_pad_add_probe(
        esrc, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer data) {
          static_cast<std::shared_ptr<std::atomic<gint64>> *>(data)->get()->store(
              g_get_monotonic_time());
          return GST_PAD_PROBE_OK;
        },
        new std::shared_ptr<std::atomic<gint64>>(media),
        [](gpointer d) { delete static_cast<std::shared_ptr<std::atomic<gint64>> *>(d); });
    // The first frame: tell the main loop (once).
    gst_pad_add_probe(
        esrc, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer data) {
          auto *c = static_cast<CbData *>(data);
          if (*c->alive)
            c->impl->post(c->n, [](Impl &impl, Session &s) { impl.report_flowing(s, 0); });
          return GST_PAD_PROBE_REMOVE;
        },
        new CbData{alive, this, n}, [](gpointer d) { delete static_cast<CbData *>(d); });
  }
  if (ours) {
    g_autoptr(GstPad) esrc = gst_element_get_static_pad(e, "src");
    if (!target || gst_pad_is_linked(target) || gst_pad_link(esrc, target) != GST_PAD_LINK_OK)
      GST_WARNING("whip: cannot feed the sink from %s", name);
  }
  roomcast::sync_to_target(e);
  if (gst_pad_link(pad, esink) != GST_PAD_LINK_OK) GST_WARNING("whip: cannot link %s", name);
}

// Main loop: the session's elements go (webrtcbin first, so nothing flows while the rest is
// unlinked); the sink's video pad is free for the next publisher.
void WhipIngest::Impl::end_session(const char *why) {
  std::unique_ptr<Session> s = std::move(session);
  if (!s) return;
  if (s->timeout) g_source_remove(s->timeout);
  if (SoupServerMessage *msg = std::exchange(s->pending, nullptr)) {
    set_text(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the session ended before it was answered");
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  }
  g_autofree char *prefix = g_strdup_printf("whip%" G_GUINT64_FORMAT "-", s->n);
  std::vector<GstElement *> mine;
  {
    g_autoptr(GstIterator) it = gst_bin_iterate_elements(GST_BIN(pipeline));
    GValue v = G_VALUE_INIT;
    while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
      auto *el = GST_ELEMENT(g_value_get_object(&v));
      if (g_str_has_prefix(GST_OBJECT_NAME(el), prefix) && el != s->webrtc)
        mine.push_back(GST_ELEMENT(gst_object_ref(el)));
      g_value_reset(&v);
    }
    g_value_unset(&v);
  }
  mine.insert(mine.begin(), GST_ELEMENT(gst_object_ref(s->webrtc)));
  for (GstElement *el : mine) {
    gst_element_set_locked_state(el, TRUE);
    gst_element_set_state(el, GST_STATE_NULL);
  }
  for (GstElement *el : mine) {
    gst_bin_remove(GST_BIN(pipeline), el);
    gst_object_unref(el);
  }
  gst_object_unref(s->webrtc);
  if (why) console::event("WHIP session ended: %s; waiting for a publisher", why);
}

WhipIngest::WhipIngest(GstElement *pipeline, GstElement *sink, WhipOptions opts)
    : impl_(std::make_unique<Impl>()) {
  impl_->pipeline = GST_ELEMENT(gst_object_ref(pipeline));
  impl_->sink = GST_ELEMENT(gst_object_ref(sink));
  impl_->opts = std::move(opts);
}

WhipIngest::~WhipIngest() {
  stop();
  gst_object_unref(impl_->sink);
  gst_object_unref(impl_->pipeline);
}

gboolean WhipIngest::Impl::watchdog(gpointer data) {
  auto *impl = static_cast<Impl *>(data);
  Session *s = impl->session.get();
  if (!s) return G_SOURCE_CONTINUE;
  const gint64 now = g_get_monotonic_time();
  const gint64 last = s->media->load();
  if (s->flowing && last && now - last > gint64(impl->opts.media_timeout_s) * G_USEC_PER_SEC) {
    g_autofree char *why =
        g_strdup_printf("no video from the publisher for %d s", impl->opts.media_timeout_s);
    impl->end_session(why);
  } else if (s->answered_us && !s->connected &&
             now - s->answered_us > gint64(impl->opts.connect_timeout_s) * G_USEC_PER_SEC) {
    g_autofree char *why =
        g_strdup_printf("the publisher did not connect within %d s", impl->opts.connect_timeout_s);
    impl->end_session(why);
  }
  return G_SOURCE_CONTINUE;
}

bool WhipIngest::start(GError **error) {
  Impl &i = *impl_;
  i.ctx = g_main_context_ref_thread_default();
  i.watchdog_source = g_timeout_add_seconds(1, Impl::watchdog, &i);
  i.soup = soup_server_new("server-header", "roomcast-whip", nullptr);
  soup_server_add_handler(i.soup, "/whip", Impl::on_request, &i, nullptr);
  soup_server_add_handler(
      i.soup, nullptr,
      [](SoupServer *, SoupServerMessage *msg, const char *, GHashTable *, gpointer) {
        set_text(msg, SOUP_STATUS_NOT_FOUND, "not found: the WHIP endpoint is /whip");
      },
      nullptr, nullptr);
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(i.opts.host.c_str());
  if (!addr) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "--whip-listen: '%s' is not an IP address", i.opts.host.c_str());
    return false;
  }
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, i.opts.port);
  const bool https = !i.opts.tls_cert_file.empty() && !i.opts.tls_key_file.empty();
  if (https) {
    // The embedded server's certificate (tls.h reads it the same way).
    g_autoptr(GTlsCertificate) cert = tls::load(i.opts.tls_cert_file, i.opts.tls_key_file, error);
    if (!cert) return false;
    g_object_set(i.soup, "tls-certificate", cert, nullptr);
  }
  if (!soup_server_listen(i.soup, sa, https ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0),
                          error))
    return false;
  GSList *uris = soup_server_get_uris(i.soup);
  unsigned port = uris ? g_uri_get_port(static_cast<GUri *>(uris->data)) : i.opts.port;
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  const bool v6 = i.opts.host.find(':') != std::string::npos;
  i.url = std::string(https ? "https://" : "http://") +
          (v6 ? "[" + i.opts.host + "]" : i.opts.host) + ":" + std::to_string(port) + "/whip";
  return true;
}

void WhipIngest::stop() {
  Impl &i = *impl_;
  if (i.watchdog_source) g_source_remove(std::exchange(i.watchdog_source, 0));
  i.end_session(nullptr);
  if (i.soup) {
    soup_server_disconnect(i.soup);
    g_clear_object(&i.soup);
  }
  *i.alive = false;
  i.alive = std::make_shared<bool>(true);
  if (i.ctx) g_main_context_unref(std::exchange(i.ctx, nullptr));
}

std::string WhipIngest::url() const {
  return impl_->url;
}

} // namespace roomcast::app
