// roomcast live: broadcast a screen (or any pipeline) to every viewer of a room.
#include "app.h"
#include "console.h"
#include "host-metrics.h"
#include "runner.h"
#include "whip-ingest.h"

#include "roomcast-config.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace roomcast::app {

namespace {

struct LiveOptions {
  char *room = nullptr;
  char *server = nullptr;
  char *host = nullptr;
  int port = 8443;
  char *source = nullptr;
  char *pipeline = nullptr;
  char *codec = nullptr;
  int bitrate = 2000;
  int fec = 0;
  char *size = nullptr;
  int fps = 30;
  gboolean audio = FALSE;
  gboolean private_room = FALSE;
  char *ice_loopback = nullptr;
  char *stun = nullptr;
  char **turn = nullptr;
  char *whip_listen = nullptr;
  char *whip_token = nullptr;
  char *ladder = nullptr;
  char *feedback = nullptr;
  gboolean verbose = FALSE;
  ~LiveOptions() {
    for (char *p : {room, server, host, source, pipeline, codec, size, ice_loopback, stun,
                    whip_listen, whip_token, ladder, feedback})
      g_free(p);
    g_strfreev(turn);
  }
};

struct Live {
  GstElement *sink = nullptr;
  guint64 last_frames = 0;
  gint64 last_us = 0;
  std::map<std::string, std::string> states; // viewer id -> connection state (main loop)
  std::map<std::string, int> layers;         // viewer id -> ladder layer (main loop)
  // viewer id -> the kind and figure of its feedback last shown
  std::map<std::string, std::pair<std::string, double>> feedback;
};

// A viewer's name for the lines: "NAME (ID)", or the id when it gave no name.
std::string viewer_label(const char *id, const char *name) {
  return name && *name ? std::string(name) + " (" + id + ")" : std::string(id);
}

// Emitted on the sink's internal threads: print only (the console locks its streams).
void on_peer_added(GstElement *, const char *id, GstElement *, gpointer) {
  console::event("viewer %s joined", id);
}

void on_peer_removed(GstElement *, const char *id, gpointer) {
  console::event("viewer %s left", id);
}

// The nick of a connection state ("connected"), never its number.
const char *state_name(const GstStructure *peer) {
  const GValue *v = gst_structure_get_value(peer, "state");
  if (!v || !G_VALUE_HOLDS_ENUM(v)) return "new";
  g_autoptr(GEnumClass) klass = G_ENUM_CLASS(g_type_class_ref(G_VALUE_TYPE(v)));
  GEnumValue *e = g_enum_get_value(klass, g_value_get_enum(v));
  return e ? e->value_nick : "new";
}

gboolean on_status(gpointer data) {
  auto *live = static_cast<Live *>(data);
  GstStructure *stats = nullptr;
  g_object_get(live->sink, "stats", &stats, nullptr);
  if (!stats) return G_SOURCE_CONTINUE;
  guint peers = 0;
  guint64 frames = 0;
  double bitrate = 0;
  gst_structure_get_uint(stats, "peer-count", &peers);
  gst_structure_get_uint64(stats, "frames", &frames);
  gst_structure_get_double(stats, "bitrate", &bitrate);
  guint connected = 0, relayed = 0;
  guint64 resent = 0, repeats = 0; // packets sent again (all viewers), and second copies of those
  std::map<std::string, std::string> states;
  if (const GValue *list = gst_structure_get_value(stats, "peers"))
    for (guint i = 0; i < gst_value_list_get_size(list); i++) {
      const GstStructure *p = gst_value_get_structure(gst_value_list_get_value(list, i));
      gboolean c = FALSE;
      gst_structure_get_boolean(p, "connected", &c);
      connected += c ? 1 : 0;
      guint64 n = 0;
      if (gst_structure_get_uint64(p, "retransmitted", &n)) resent += n;
      if (gst_structure_get_uint64(p, "rtx-repeats", &n)) repeats += n;
      // Through a TURN server at either end.
      const bool relay =
          c && (!g_strcmp0(gst_structure_get_string(p, "local-candidate-type"), "relay") ||
                !g_strcmp0(gst_structure_get_string(p, "remote-candidate-type"), "relay"));
      relayed += relay;
      const char *id = gst_structure_get_string(p, "id");
      if (!id) continue;
      std::string state = state_name(p);
      // A change of a viewer's connection is an event line, by name ("connected", "failed").
      auto old = live->states.find(id);
      if ((old == live->states.end() && state != "new") ||
          (old != live->states.end() && old->second != state))
        console::event("viewer %s %s%s",
                       viewer_label(id, gst_structure_get_string(p, "name")).c_str(), state.c_str(),
                       state == "connected" && relay ? " (relayed)" : "");
      states[id] = state;
      // A viewer's ladder layer changed: an event line ("viewer NAME layer 1 (320x180)").
      int layer = -1, w = 0, h = 0;
      if (gst_structure_get_int(p, "layer", &layer)) {
        gst_structure_get_int(p, "layer-width", &w);
        gst_structure_get_int(p, "layer-height", &h);
        auto was = live->layers.find(id);
        // With the estimate and what it came from (bwe-source: twcc, remb or rtcp).
        double bwe = 0, remb = 0;
        gst_structure_get_double(p, "bwe", &bwe);
        gst_structure_get_double(p, "remb-bps", &remb);
        const char *source = gst_structure_get_string(p, "bwe-source");
        if (was == live->layers.end() ? layer != 0 : was->second != layer)
          console::event("viewer %s layer %d (%dx%d) estimate %.0f kbit/s from %s (remb %.0f)",
                         viewer_label(id, gst_structure_get_string(p, "name")).c_str(), layer, w, h,
                         bwe / 1000, source ? source : "rtcp", remb / 1000);
        live->layers[id] = layer;
        // What the viewer itself reports about its link (REMB: its estimate; transport-cc: the
        // rate it received), when it first does, at each change of kind, and when the figure
        // moved by a quarter since last shown: "viewer NAME feedback remb 1834 kbit/s".
        if (source && g_strcmp0(source, "rtcp") != 0) {
          double figure = 0;
          gst_structure_get_double(
              p, g_str_equal(source, "remb") ? "remb-bps" : "twcc-bitrate-recv", &figure);
          auto &shown = live->feedback[id];
          if (shown.first != source || figure > shown.second * 1.25 ||
              figure < shown.second * 0.75) {
            console::event("viewer %s feedback %s %.0f kbit/s",
                           viewer_label(id, gst_structure_get_string(p, "name")).c_str(), source,
                           figure / 1000);
            shown = {source, figure};
          }
        }
      }
    }
  live->states = std::move(states);
  gst_structure_free(stats);
  gint64 now = g_get_monotonic_time();
  double fps = live->last_us ? (frames - live->last_frames) * 1e6 / double(now - live->last_us) : 0;
  live->last_frames = frames;
  live->last_us = now;
  g_autofree char *via = relayed ? g_strdup_printf(", %u relayed", relayed) : g_strdup("");
  // Retransmissions, once there are any: "resent 412 packets (180 twice)".
  g_autofree char *rtx = resent ? g_strdup_printf("  resent %" G_GUINT64_FORMAT
                                                  " packets (%" G_GUINT64_FORMAT " twice)",
                                                  resent, repeats)
                                : g_strdup("");
  g_autofree char *line =
      g_strdup_printf("viewers %u (%u connected%s)  sending %.0f kbit/s  encoding %.1f fps%s",
                      peers, connected, via, bitrate / 1000.0, fps, rtx);
  console::status(line);
  return G_SOURCE_CONTINUE;
}

} // namespace

int cmd_live(int argc, char **argv) {
  LiveOptions o;
  GOptionEntry entries[] = {
      {"room", 'r', 0, G_OPTION_ARG_STRING, &o.room, "Room to broadcast to (demo)", "NAME"},
      {"server", 's', 0, G_OPTION_ARG_STRING, &o.server,
       "Signalling server (ws://HOST:PORT/ws); without it the server is embedded", "URL"},
      {"host", 0, 0, G_OPTION_ARG_STRING, &o.host, "Embedded server address (127.0.0.1)", "ADDR"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &o.port, "Embedded server port; 0 picks one (8443)",
       "PORT"},
      {"source", 0, 0, G_OPTION_ARG_STRING, &o.source,
       "screen, test, or whip (a WHIP publisher's stream, passed on without re-encoding; screen "
       "when DISPLAY is set, else test)",
       "SOURCE"},
      {"whip-listen", 0, 0, G_OPTION_ARG_STRING, &o.whip_listen,
       "--source whip: where the WHIP endpoint (plain HTTP) listens (--host's address, or "
       "127.0.0.1, port 8089; 0 picks a port)",
       "[HOST:]PORT"},
      {"whip-token", 0, 0, G_OPTION_ARG_STRING, &o.whip_token,
       "--source whip: the Bearer token publishers must send, from a file (file:PATH) or "
       "env:VARIABLE (a host token of the room is taken too when the server checks tokens)",
       "SOURCE"},
      {"pipeline", 0, 0, G_OPTION_ARG_STRING, &o.pipeline,
       "A launch description, or a file (pipelines/NAME.pipeline), instead of --source", "DESC"},
      {"codec", 'c', 0, G_OPTION_ARG_STRING, &o.codec, "vp8, vp9 or h264 (vp8)", "CODEC"},
      {"bitrate", 'b', 0, G_OPTION_ARG_INT, &o.bitrate, "Video bitrate in kbit/s (2000)", "KBPS"},
      {"fec", 0, 0, G_OPTION_ARG_INT, &o.fec,
       "Forward error correction (ULPFEC) for viewers that accept it, in percent of the packets "
       "(0: off, the default; retransmission repairs loss either way)",
       "PERCENT"},
      {"size", 0, 0, G_OPTION_ARG_STRING, &o.size,
       "Video size (test: 1280x720; screen: as captured)", "WxH"},
      {"fps", 0, 0, G_OPTION_ARG_INT, &o.fps, "Frames per second (30)", "N"},
      {"ladder", 0, 0, G_OPTION_ARG_STRING, &o.ladder,
       "VP8 sizes encoded once, each viewer sent the largest its link carries: shares of the "
       "size, e.g. 1,0.5,0.25; 'off' for one stream (off)",
       "SCALES"},
      {"congestion-feedback", 0, 0, G_OPTION_ARG_STRING, &o.feedback,
       "What ladder viewers are offered to report their link with: twcc,remb (default), twcc, "
       "remb or none (receiver reports and NACKs only)",
       "KINDS"},
      {"audio", 'a', 0, G_OPTION_ARG_NONE, &o.audio,
       "Send Opus audio too (microphone via pulsesrc, or a tone for the test source)", nullptr},
      {"private", 0, 0, G_OPTION_ARG_NONE, &o.private_room,
       "Keep the room off the server's room list (the start page's live rooms)", nullptr},
      {"ice-loopback", 0, 0, G_OPTION_ARG_STRING, &o.ice_loopback,
       "Add 127.0.0.1 to ICE: on, off or auto (when the server is on loopback)", "MODE"},
      {"stun", 0, 0, G_OPTION_ARG_STRING, &o.stun,
       "STUN server (stun://HOST:PORT); without --server the embedded server hands it to viewers",
       "URI"},
      {"turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.turn,
       "TURN server (turn(s)://USER:PASSWORD@HOST:PORT); repeatable; without --server the "
       "embedded server hands it to viewers",
       "URI"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose, "More detail in logs and errors", nullptr},
      {nullptr}};
  ServerOptions sopts;
  g_autoptr(GOptionContext) ctx = g_option_context_new("- broadcast to a room");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(ctx, exit_codes_help(HelpKind::live));
  g_option_context_add_group(ctx, server_option_group(sopts));
  g_option_context_add_group(ctx, server_security_group(sopts));
  ClientOptions copts;
  g_option_context_add_group(ctx, client_option_group(copts));
  HostOptions hopts;
  g_option_context_add_group(ctx, host_option_group(hopts));
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!parse_options(ctx, argc, argv)) return 2;
  if (o.verbose) enable_verbose();
  if (!init_gstreamer(argc, argv)) return 1;

  const std::string room = o.room ? o.room : "demo";
  const std::string codec = o.codec ? o.codec : "vp8";
  std::string source;
  int width = 0, height = 0;
  const bool whip = o.source && g_str_equal(o.source, "whip");
  if (!check_media_options("live", codec, o.fps, o.bitrate, o.size, whip ? "test" : o.source,
                           source, width, height))
    return 2;
  WhipOptions wopts;
  if (whip) {
    source = "whip";
    if (o.pipeline) {
      g_printerr("roomcast live: --source whip and --pipeline exclude each other\n");
      return 2;
    }
    wopts.host = o.host ? o.host : "127.0.0.1";
    if (o.whip_listen && !parse_whip_listen(o.whip_listen, wopts.host, wopts.port)) {
      g_printerr("roomcast live: --whip-listen must be [HOST:]PORT (8089, 0.0.0.0:8089, "
                 "[::1]:8089)\n");
      return 2;
    }
    g_autoptr(GError) err = nullptr;
    if (o.whip_token && !read_secret("--whip-token", o.whip_token, wopts.secret, &err)) {
      g_printerr("roomcast live: %s\n", err->message);
      return 2;
    }
    wopts.codec = codec;
    wopts.audio = o.audio;
    wopts.room = room;
  } else if (o.whip_listen || o.whip_token) {
    g_printerr("roomcast live: --whip-listen and --whip-token go with --source whip\n");
    return 2;
  }

  // Without --server the ICE servers go to the embedded server, which hands them to everyone in
  // its welcome (this host included); with --server they are the sink's own.
  ice::ServerSetup own;
  if (!parse_ice_options("live", o.stun, o.turn, o.server ? own : sopts.ice)) return 2;
  if (o.server) own.secret = std::exchange(sopts.ice.secret, std::string()); // refused below
  if (!o.server && !check_ice_setup("live", sopts.ice)) return 2;

  std::unique_ptr<Server> server; // outlives the runner: the pipeline stops before the server
  Runner runner("live", o.verbose);
  std::string ws_url;
  if (!use_or_embed_server("live", o.server, o.host, o.port, sopts, server, ws_url)) return 1;
  if (server && every_interface(sopts.host))
    console::event("the embedded server listens on every interface (port %u)", server->port());

  MediaOptions media{"live", source, o.pipeline, width, height, o.fps, bool(o.audio)};
  GstElement *sink = nullptr;
  g_autoptr(GstElement) pipeline =
      whip ? build_whip_pipeline(o.audio, &sink) : build_media_pipeline(media, &sink);
  if (!pipeline) return 2;
  g_autoptr(GstElement) sink_ref = sink;
  if (!set_signaller_uri("live", sink, ws_url)) return 1;
  if (!apply_client_options("live", sink, copts, sopts, server.get(), room, "host")) return 1;
  if (o.private_room)
    gst_child_proxy_set(GST_CHILD_PROXY(sink), "signaller::private", TRUE, nullptr);
  gst_util_set_object_arg(G_OBJECT(sink), "codec", codec.c_str());
  if (o.fec < 0 || o.fec > 100) {
    g_printerr("roomcast live: --fec must be 0-100\n");
    return 2;
  }
  g_object_set(sink, "fec-percentage", guint(o.fec), nullptr);
  if (o.ladder) {
    g_object_set(sink, "ladder", o.ladder, nullptr);
    g_autofree char *got = nullptr;
    g_object_get(sink, "ladder", &got, nullptr);
    if (g_strcmp0(got, o.ladder) != 0) {
      g_printerr("roomcast live: --ladder must be 'off' or descending sizes from 1 (e.g. "
                 "1,0.5,0.25), not '%s'\n",
                 o.ladder);
      return 2;
    }
    if (codec != "vp8" && g_strcmp0(o.ladder, "off") != 0)
      console::event("--ladder applies to VP8 only: %s is sent as one stream", codec.c_str());
  }
  if (o.feedback) {
    const std::string f = o.feedback;
    if (f != "twcc,remb" && f != "remb,twcc" && f != "twcc" && f != "remb" && f != "none") {
      g_printerr("roomcast live: --congestion-feedback must be twcc,remb, twcc, remb or none, "
                 "not '%s'\n",
                 o.feedback);
      return 2;
    }
    g_object_set(sink, "congestion-feedback", o.feedback, nullptr);
  }
  g_object_set(sink, "room", room.c_str(), "bitrate", guint(o.bitrate), "ice-loopback",
               loopback_ice(o.ice_loopback, ws_url), nullptr);
  if (o.server && !set_element_ice("live", sink, own)) return 2;
  if (!apply_host_options("live", sink, hopts)) return 2;

  g_signal_connect(sink, "peer-added", G_CALLBACK(on_peer_added), nullptr);
  g_signal_connect(sink, "peer-removed", G_CALLBACK(on_peer_removed), nullptr);

  Live live;
  live.sink = sink;
  runner.watch(pipeline);
  if (!runner.start()) return runner.exit_code();

  // The WHIP endpoint listens once the pipeline runs (a publisher's webrtcbin joins it).
  std::unique_ptr<WhipIngest> whip_in;
  if (whip) {
    if (server) {
      wopts.token_secret = sopts.token_secret;
      // The server's certificate files serve the endpoint too; a self-signed one (made in the
      // server) does not: the endpoint stays plain HTTP then.
      wopts.tls_cert_file = sopts.tls_cert_file;
      wopts.tls_key_file = sopts.tls_key_file;
    }
    wopts.ice_loopback = loopback_ice(o.ice_loopback, ws_url);
    whip_in = std::make_unique<WhipIngest>(pipeline, sink, wopts);
    g_autoptr(GError) err = nullptr;
    if (!whip_in->start(&err)) {
      g_printerr("roomcast live: the WHIP endpoint cannot listen on %s:%u: %s\n",
                 wopts.host.c_str(), wopts.port, err->message);
      return 1;
    }
    const bool https = !wopts.tls_cert_file.empty();
    console::event("WHIP endpoint %s (%s%s): publishers POST their offer there",
                   whip_in->url().c_str(),
                   https                   ? "HTTPS"
                   : sopts.tls_self_signed ? "plain HTTP: a self-signed certificate is not shared"
                                           : "plain HTTP",
                   !wopts.secret.empty() || !wopts.token_secret.empty() ? ", Bearer token" : "");
  }

  // The room is live once the sink is in it: a server that cannot be reached, or refuses the
  // room, fails before any of these lines.
  std::unique_ptr<HostMetrics> metrics; // before the server and the pipeline go
  if (!start_host_metrics("live", sink, hopts, server.get(), metrics)) return 1;
  fflush(stdout);
  console::status("joining room '" + room + "' at " + ws_url);
  runner.on_joined([&](const std::string &, bool rejoin) {
    if (rejoin) return;
    console::event("room '%s' is live (%s, %s)", room.c_str(),
                   o.pipeline ? "custom pipeline" : source.c_str(), codec.c_str());
    // Viewers of an embedded server that admits only tokens get one in the lines (12 h).
    std::string invite = server ? invite_token(sopts, *server, room, proto::Role::Viewer) : "";
    const std::string http = server ? server->http_url() : http_base(ws_url);
    // On every interface: a link per address, LAN ones first.
    const auto hosts = server ? reachable_hosts(sopts.host) : std::vector<std::string>{};
    std::vector<std::string> links;
    for (const auto &h : hosts)
      links.push_back(with_host(http, h));
    if (links.empty()) links.push_back(http);
    for (const auto &l : links)
      console::event("viewers open %sroom/%s?role=viewer%s", l.c_str(), room.c_str(),
                     invite.empty() ? "" : ("&token=" + invite).c_str());
    std::string extra = server && !server->tls_fingerprint().empty()
                            ? " --tls-pin " + server->tls_fingerprint()
                            : std::string();
    if (!invite.empty()) extra += " --token " + invite;
    // A command that runs as printed: this very binary, the address others reach.
    const std::string url = hosts.empty() ? ws_url : with_host(ws_url, hosts.front());
    console::event("or run: %s watch --server %s --room %s%s", self_command().c_str(),
                   shell_word(url).c_str(), shell_word(room).c_str(), extra.c_str());
    if (server) print_server_security("live", *server);
    if (server) print_ice_setup("live", sopts.ice);
    fflush(stdout);
  });

  guint status = g_timeout_add_seconds(1, on_status, &live);
  runner.run();
  g_source_remove(status);
  console::clear_status();
  if (whip_in) whip_in->stop();
  runner.stop_pipeline();
  if (server) server->stop();
  if (runner.exit_code() == kExitOk) console::event("stopped");
  return runner.exit_code();
}

} // namespace roomcast::app
