// roomcast meet: a mesh meeting member. Sends its screen (or test pattern) to every other member
// and shows all of them in a labelled grid.
#include "app.h"
#include "console.h"
#include "gst-threads.h"
#include "runner.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace roomcast::app {

namespace {

// What one remote member sent us. Kept until exit (also after it left) for the JSON report.
struct MemberStats {
  std::string id, name;
  std::atomic<guint64> frames{0};
  std::atomic<int> width{0}, height{0};
  std::atomic<gint64> first_frame_us{0};
  std::atomic<bool> present{true};
};

struct Branch {
  GstElement *bin = nullptr;  // in the pipeline
  GstPad *grid_pad = nullptr; // compositor request pad (auto, video), ref
  std::string member;
  bool video = false;
};

struct Meet {
  Runner *runner = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *grid = nullptr; // compositor (shown video only)
  bool show_video = false;    // --sink auto with a display: the grid
  bool play_audio = false;    // --sink auto
  bool verbose = false;
  guint64 want_frames = 0;
  guint expect = 0;
  gint64 start_us = 0;
  GstElement *sink = nullptr; // roomcastsink (borrowed)
  std::string room;           // for the lines
  std::atomic<bool> anyone_seen{false};
  gint64 waiting_since_us = 0; // (main loop) since when nobody is on the grid
  std::atomic<bool> done{false};
  // `lock` guards the maps; never held while calling into GStreamer.
  std::mutex lock;
  std::map<std::string, std::unique_ptr<MemberStats>> members; // by id
  std::map<std::string, Branch> branches;                      // by pad name
  std::vector<std::string> tiles;                              // member ids on the grid, in order
  std::map<std::string, int> layers; // (main loop) member id -> the ladder layer we send it
};

constexpr int kGridW = 1280, kGridH = 720;

// A member in the lines: "NAME (ID)", or the id when it gave no name. The same everywhere.
std::string member_label(const std::string &id, const std::string &name) {
  return name.empty() ? id : name + " (" + id + ")";
}

// Main loop: lay the tiles out in a grid that fits them all.
void reflow(Meet *m) {
  if (!m->grid) return;
  std::vector<GstPad *> pads;
  {
    std::lock_guard l(m->lock);
    for (const auto &id : m->tiles)
      for (auto &[name, b] : m->branches)
        if (b.member == id && b.grid_pad) pads.push_back(GST_PAD(gst_object_ref(b.grid_pad)));
  }
  int n = static_cast<int>(pads.size());
  int cols = n ? static_cast<int>(std::ceil(std::sqrt(n))) : 1;
  int rows = n ? (n + cols - 1) / cols : 1;
  int w = kGridW / cols, h = kGridH / rows;
  for (int i = 0; i < n; i++) {
    // The tile is the box; the compositor scales the source into it keeping its aspect ratio
    // (black bars around), so a 16:9 picture in a 640x720 tile is 640x360, not stretched.
    gst_util_set_object_arg(G_OBJECT(pads[i]), "sizing-policy", "keep-aspect-ratio");
    g_object_set(pads[i], "xpos", (i % cols) * w, "ypos", (i / cols) * h, "width", w, "height", h,
                 nullptr);
    gst_object_unref(pads[i]);
  }
}

bool all_done(Meet *m) {
  std::lock_guard l(m->lock);
  guint ready = 0;
  // A member counts once it delivered N frames, even if it has left since (it may have
  // finished its own run first).
  for (auto &[id, st] : m->members)
    if (st->frames >= m->want_frames) ready++;
  return ready >= m->expect;
}

GstPadProbeReturn on_video_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  auto *st = static_cast<MemberStats *>(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    // A new size (the member sends us another layer, or scales down for our `prefer`): the
    // report shows the latest.
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS && st->width != 0) {
      GstCaps *caps = nullptr;
      gst_event_parse_caps(ev, &caps);
      int w = 0, h = 0;
      if (caps && gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &w) &&
          gst_structure_get_int(gst_caps_get_structure(caps, 0), "height", &h)) {
        st->width = w;
        st->height = h;
      }
    }
    return GST_PAD_PROBE_OK;
  }
  gint64 zero = 0;
  st->first_frame_us.compare_exchange_strong(zero, g_get_monotonic_time());
  if (st->width == 0) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    int w = 0, h = 0;
    if (caps) {
      gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &w);
      gst_structure_get_int(gst_caps_get_structure(caps, 0), "height", &h);
    }
    st->width = w;
    st->height = h;
  }
  st->frames++;
  return GST_PAD_PROBE_OK;
}

gboolean check_done(gpointer data) {
  auto *m = static_cast<Meet *>(data);
  if (m->want_frames && m->expect && !m->done && all_done(m)) {
    m->done = true;
    m->runner->quit();
  }
  return G_SOURCE_CONTINUE;
}

// Main loop: give a remote member's new stream a branch (and a tile).
void add_branch(Meet *m, GstPad *pad) {
  // roomcastsink's remote pads are GstRoomcastPads: they say whose stream they carry.
  if (!g_object_class_find_property(G_OBJECT_GET_CLASS(pad), "peer-id")) return;
  g_autofree char *id = nullptr;
  g_autofree char *name = nullptr;
  g_object_get(pad, "peer-id", &id, "peer-name", &name, nullptr);
  if (!id) return;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  bool video = g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/");
  std::string label = (name && *name) ? name : id;
  // The branch's ends are named and ghosted by hand: textoverlay has an unlinked text_sink pad,
  // which automatic ghosting could pick as the branch's input.
  // The label's text is set as a property, never written into the description (a name may
  // hold quotes or anything else).
  bool to_grid = video && m->grid;
  const char *desc = to_grid ? "queue name=in ! videoconvert ! textoverlay name=label "
                               "valignment=bottom halignment=left font-desc=\"Sans 20\" "
                               "shaded-background=true ! queue name=out"
                     : !video && m->play_audio
                         ? "queue name=in ! audioconvert ! audioresample ! autoaudiosink"
                         : "queue name=in ! fakesink sync=false async=false";
  g_autoptr(GError) err = nullptr;
  GstElement *bin = gst_parse_bin_from_description(desc, FALSE, &err);
  if (!bin) {
    g_printerr("roomcast meet: %s\n", err ? err->message : "cannot make a branch");
    return;
  }
  if (to_grid) {
    g_autoptr(GstElement) overlay = gst_bin_get_by_name(GST_BIN(bin), "label");
    g_object_set(overlay, "text", label.c_str(), nullptr);
  }
  auto ghost = [bin](const char *element, const char *pad, const char *name) {
    g_autoptr(GstElement) e = gst_bin_get_by_name(GST_BIN(bin), element);
    g_autoptr(GstPad) target = gst_element_get_static_pad(e, pad);
    gst_element_add_pad(bin, gst_ghost_pad_new(name, target));
  };
  ghost("in", "sink", "sink");
  if (to_grid) ghost("out", "src", "src");
  MemberStats *st;
  {
    std::lock_guard l(m->lock);
    auto &slot = m->members[id];
    if (!slot) {
      slot = std::make_unique<MemberStats>();
      slot->id = id;
      slot->name = name ? name : "";
    }
    slot->present = true;
    st = slot.get();
  }
  // A sink that prerolls (autoaudiosink's) does it inside its branch: the running pipeline
  // does not lose its state to it (see sync_to_target).
  g_object_set(bin, "async-handling", TRUE, nullptr);
  gst_bin_add(GST_BIN(m->pipeline), bin);
  Branch b;
  b.bin = bin;
  b.member = id;
  b.video = video;
  if (to_grid) {
    b.grid_pad = gst_element_request_pad_simple(m->grid, "sink_%u");
    GstPad *out = gst_element_get_static_pad(bin, "src");
    if (GST_PAD_LINK_FAILED(gst_pad_link(out, b.grid_pad)))
      g_printerr("roomcast meet: cannot put %s on the grid\n", label.c_str());
    gst_object_unref(out);
  }
  roomcast::sync_to_target(bin);
  GstPad *in = gst_element_get_static_pad(bin, "sink");
  gst_pad_link(pad, in);
  gst_object_unref(in);
  if (video)
    gst_pad_add_probe(
        pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        on_video_buffer, st, nullptr);
  {
    std::lock_guard l(m->lock);
    m->branches[GST_PAD_NAME(pad)] = b;
    if (video) m->tiles.push_back(id);
  }
  if (video) {
    m->anyone_seen = true;
    console::event("seeing %s", member_label(id, name ? name : "").c_str());
  }
  reflow(m);
}

// Streaming thread: a remote member's stream appeared on the sink; it waits (blocked) while the
// main loop builds its branch.
void on_remote_pad(GstElement *, GstPad *pad, gpointer data) {
  auto *m = static_cast<Meet *>(data);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  roomcast::link_on(nullptr, pad, [m](GstPad *p) { add_branch(m, p); });
}

// A member left (its pads go): drop its branch and tile on the main loop, in order after the
// add_branch queued for the same pad.
void drop_branch(Meet *m, const std::string &pad_name) {
  Branch b;
  std::string label;
  {
    std::lock_guard l(m->lock);
    auto it = m->branches.find(pad_name);
    if (it == m->branches.end()) return;
    b = it->second;
    m->branches.erase(it);
    label = b.member;
    if (b.video) {
      std::erase(m->tiles, b.member);
      if (auto st = m->members.find(b.member); st != m->members.end()) {
        st->second->present = false;
        label = member_label(b.member, st->second->name);
      }
    }
  }
  gst_element_set_state(b.bin, GST_STATE_NULL);
  if (b.grid_pad) {
    gst_element_release_request_pad(m->grid, b.grid_pad);
    gst_object_unref(b.grid_pad);
  }
  gst_bin_remove(GST_BIN(m->pipeline), b.bin);
  if (b.video) console::event("%s left", label.c_str());
  reflow(m);
}

void on_remote_pad_removed(GstElement *, GstPad *pad, gpointer data) {
  auto *m = static_cast<Meet *>(data);
  roomcast::invoke_on(nullptr,
                      [m, name = std::string(GST_PAD_NAME(pad))] { drop_branch(m, name); });
}

// One JSON line per member we heard from: what it sent us so far. `ready` counts those that
// delivered the wanted number of frames. Times are in whole milliseconds.
std::vector<std::string> report_lines(Meet *m, guint *ready) {
  std::vector<std::string> report;
  std::lock_guard l(m->lock);
  for (auto &[id, st] : m->members) {
    gint64 first = st->first_frame_us;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id.c_str());
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, st->name.c_str());
    json_builder_set_member_name(b, "frames");
    json_builder_add_int_value(b, static_cast<gint64>(st->frames.load()));
    json_builder_set_member_name(b, "width");
    json_builder_add_int_value(b, st->width.load());
    json_builder_set_member_name(b, "height");
    json_builder_add_int_value(b, st->height.load());
    json_builder_set_member_name(b, "first_frame_ms");
    json_builder_add_double_value(b, first ? std::round((first - m->start_us) / 1000.0) : -1.0);
    json_builder_set_member_name(b, "present");
    json_builder_add_boolean_value(b, st->present.load());
    json_builder_end_object(b);
    report.push_back(json_text(b));
    if (ready && st->frames >= m->want_frames) (*ready)++;
  }
  return report;
}

// SIGUSR1 (main loop): print the report so far, then a "report end" line, and go on.
void print_report(Meet *m) {
  for (const auto &line : report_lines(m, nullptr))
    console::line(line);
  console::event("report end");
}

// Once a second on the main loop: who is on the grid and what we send, or what we wait for.
gboolean on_status(gpointer data) {
  auto *m = static_cast<Meet *>(data);
  size_t tiles = 0, members = 0;
  {
    std::lock_guard l(m->lock);
    tiles = m->tiles.size();
    for (auto &[id, st] : m->members)
      members += st->present ? 1 : 0;
  }
  guint peers = 0, connected = 0;
  double bitrate = 0;
  GstStructure *stats = nullptr;
  g_object_get(m->sink, "stats", &stats, nullptr);
  if (stats) {
    gst_structure_get_uint(stats, "peer-count", &peers);
    gst_structure_get_double(stats, "bitrate", &bitrate);
    if (const GValue *list = gst_structure_get_value(stats, "peers"))
      for (guint i = 0; i < gst_value_list_get_size(list); i++) {
        gboolean c = FALSE;
        const GstStructure *p = gst_value_get_structure(gst_value_list_get_value(list, i));
        gst_structure_get_boolean(p, "connected", &c);
        connected += c ? 1 : 0;
        // With --ladder: the layer we send a member changed (its link, or its `prefer`), an
        // event line ("member NAME (ID) layer 2 (160x90)"), as live prints for viewers.
        int layer = -1, w = 0, h = 0;
        const char *id = gst_structure_get_string(p, "id");
        if (id && gst_structure_get_int(p, "layer", &layer)) {
          gst_structure_get_int(p, "layer-width", &w);
          gst_structure_get_int(p, "layer-height", &h);
          auto was = m->layers.find(id);
          if (was == m->layers.end() ? layer != 0 : was->second != layer) {
            const char *pname = gst_structure_get_string(p, "name");
            console::event("member %s layer %d (%dx%d)",
                           member_label(id, pname ? pname : "").c_str(), layer, w, h);
          }
          m->layers[id] = layer;
        }
      }
    gst_structure_free(stats);
  }
  const gint64 now = g_get_monotonic_time();
  if (tiles == 0 && peers == 0) {
    if (!m->waiting_since_us) m->waiting_since_us = now;
    const int waited = int((now - m->waiting_since_us) / G_USEC_PER_SEC);
    std::string text = m->expect ? "waiting for " + std::to_string(m->expect) +
                                       " others to join room '" + m->room + "'"
                                 : "waiting for others to join room '" + m->room + "'";
    console::status(text + " (" + std::to_string(waited) + " s)");
    return G_SOURCE_CONTINUE;
  }
  m->waiting_since_us = 0;
  g_autofree char *text = g_strdup_printf(
      "members %u (%u connected)  videos %zu  sending %.0f kbit/s%s", peers, connected, tiles,
      bitrate / 1000.0,
      m->expect && members < m->expect
          ? (" waiting for " + std::to_string(m->expect - members) + " more").c_str()
          : "");
  console::status(text);
  return G_SOURCE_CONTINUE;
}

} // namespace

int cmd_meet(int argc, char **argv) {
  g_autofree char *room = nullptr, *server_arg = nullptr, *host = nullptr, *source_arg = nullptr,
                  *pipeline_arg = nullptr, *sink_arg = nullptr, *codec_arg = nullptr,
                  *size = nullptr, *name = nullptr, *ice = nullptr, *ladder = nullptr;
  int port = 8443, fps = 30, bitrate = 1500, frames = 0, expect = 0, timeout = 0, prefer = -1;
  gboolean audio = FALSE, verbose = FALSE, report_arg = FALSE;
  g_autofree char *stun = nullptr;
  g_auto(GStrv) turn = nullptr;
  GOptionEntry entries[] = {
      {"room", 'r', 0, G_OPTION_ARG_STRING, &room, "Meeting room (meeting)", "NAME"},
      {"server", 's', 0, G_OPTION_ARG_STRING, &server_arg,
       "Signalling server (ws://HOST:PORT/ws); without it the server is embedded", "URL"},
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Embedded server address (127.0.0.1)", "ADDR"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &port, "Embedded server port; 0 picks one (8443)", "PORT"},
      {"source", 0, 0, G_OPTION_ARG_STRING, &source_arg,
       "screen or test (screen when DISPLAY is set, else test)", "SOURCE"},
      {"pipeline", 0, 0, G_OPTION_ARG_STRING, &pipeline_arg,
       "A launch description or pipelines/ file ending in a roomcastsink", "DESC"},
      {"sink", 0, 0, G_OPTION_ARG_STRING, &sink_arg, "auto (a window with the grid) or fake",
       "SINK"},
      {"expect", 'k', 0, G_OPTION_ARG_INT, &expect, "With --frames: wait for K other members", "K"},
      {"frames", 'n', 0, G_OPTION_ARG_INT, &frames,
       "Exit 0 once N frames came from each of K members", "N"},
      {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout,
       "Stop after S seconds (exit 3 if --frames were not reached, 4 if nobody came)", "S"},
      {"report", 0, 0, G_OPTION_ARG_NONE, &report_arg,
       "At exit, print a JSON line per member seen (what it sent us); --frames implies it",
       nullptr},
      {"codec", 'c', 0, G_OPTION_ARG_STRING, &codec_arg, "vp8, vp9 or h264 (vp8)", "CODEC"},
      {"bitrate", 'b', 0, G_OPTION_ARG_INT, &bitrate, "Video bitrate in kbit/s (1500)", "KBPS"},
      {"size", 0, 0, G_OPTION_ARG_STRING, &size, "Video size (test: 1280x720)", "WxH"},
      {"fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frames per second (30)", "N"},
      {"audio", 'a', 0, G_OPTION_ARG_NONE, &audio, "Send Opus audio too", nullptr},
      {"ladder", 0, 0, G_OPTION_ARG_STRING, &ladder,
       "VP8 encoded once per size, each member sent the largest its link carries (and at most "
       "what it asks for): sizes as shares of the source, e.g. 1,0.5,0.25; or off (off)",
       "SIZES"},
      {"prefer", 0, 0, G_OPTION_ARG_INT, &prefer,
       "Ask every other member for at most this layer of its ladder (0: full size, 1: the next "
       "smaller, ...; a member without a ladder ignores it, a browser scales down by 2 per layer)",
       "N"},
      {"name", 0, 0, G_OPTION_ARG_STRING, &name, "Name shown to the others", "NAME"},
      {"ice-loopback", 0, 0, G_OPTION_ARG_STRING, &ice,
       "Add 127.0.0.1 to ICE: on, off or auto (when the server is on loopback)", "MODE"},
      {"stun", 0, 0, G_OPTION_ARG_STRING, &stun,
       "STUN server (stun://HOST:PORT); without --server the embedded server hands it to members",
       "URI"},
      {"turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn,
       "TURN server (turn(s)://USER:PASSWORD@HOST:PORT); repeatable; without --server the "
       "embedded server hands it to members",
       "URI"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "More detail", nullptr},
      {nullptr}};
  ServerOptions sopts;
  g_autoptr(GOptionContext) ctx = g_option_context_new("- meet: everyone sees everyone");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(ctx, exit_codes_help(HelpKind::receive));
  g_option_context_add_group(ctx, server_option_group(sopts));
  g_option_context_add_group(ctx, server_security_group(sopts));
  ClientOptions copts;
  g_option_context_add_group(ctx, client_option_group(copts));
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!parse_options(ctx, argc, argv)) return 2;
  if (verbose) enable_verbose();
  std::string sink_mode = sink_arg ? sink_arg : "auto";
  if (sink_mode != "auto" && sink_mode != "fake") {
    g_printerr("roomcast meet: --sink must be auto or fake\n");
    return 2;
  }
  if (frames < 0 || expect < 0 || timeout < 0 || (frames > 0) != (expect > 0)) {
    g_printerr("roomcast meet: --expect and --frames go together and must be positive\n");
    return 2;
  }
  if (prefer != -1 && (prefer < 0 || prefer > int(proto::kMaxPreferLayer))) {
    g_printerr("roomcast meet: --prefer must be a layer from 0 to %d\n",
               int(proto::kMaxPreferLayer));
    return 2;
  }
  const std::string codec = codec_arg ? codec_arg : "vp8";
  std::string source;
  int width = 0, height = 0;
  if (!check_media_options("meet", codec, fps, bitrate, size, source_arg, source, width, height))
    return 2;
  // As in live: the embedded server hands the ICE servers out; with --server they are our own.
  ice::ServerSetup own;
  if (!parse_ice_options("meet", stun, turn, server_arg ? own : sopts.ice)) return 2;
  if (server_arg) own.secret = std::exchange(sopts.ice.secret, std::string()); // refused below
  if (!server_arg && !check_ice_setup("meet", sopts.ice)) return 2;
  if (!init_gstreamer(argc, argv)) return 1;

  std::unique_ptr<Server> server; // outlives the runner: the pipeline stops before the server
  Runner runner("meet", verbose);
  std::string ws_url;
  if (!use_or_embed_server("meet", server_arg, host, port, sopts, server, ws_url)) return 1;

  MediaOptions media{"meet", source, pipeline_arg, width, height, fps, bool(audio)};
  GstElement *sink = nullptr;
  g_autoptr(GstElement) pipeline = build_media_pipeline(media, &sink);
  if (!pipeline) return 2;
  g_autoptr(GstElement) sink_ref = sink;
  if (!set_signaller_uri("meet", sink, ws_url)) return 1;
  std::string room_name = room ? room : "meeting";
  if (!apply_client_options("meet", sink, copts, sopts, server.get(), room_name, "member"))
    return 1;
  g_autofree char *default_name = g_strdup_printf("%s-%d", g_get_host_name(), getpid());
  gst_util_set_object_arg(G_OBJECT(sink), "role", "member");
  gst_util_set_object_arg(G_OBJECT(sink), "codec", codec.c_str());
  g_object_set(sink, "room", room_name.c_str(), "display-name", name ? name : default_name,
               "bitrate", guint(bitrate), "ice-loopback", loopback_ice(ice, ws_url), nullptr);
  if (server_arg && !set_element_ice("meet", sink, own)) return 2;
  if (ladder) {
    g_object_set(sink, "ladder", ladder, nullptr);
    g_autofree char *got = nullptr;
    g_object_get(sink, "ladder", &got, nullptr);
    if (g_strcmp0(got, ladder) != 0) {
      g_printerr("roomcast meet: --ladder must be 'off' or descending sizes from 1 (e.g. "
                 "1,0.5,0.25), not '%s'\n",
                 ladder);
      return 2;
    }
    if (codec != "vp8" && g_strcmp0(ladder, "off") != 0)
      console::event("--ladder applies to VP8 only: %s is sent as one stream", codec.c_str());
  }
  if (prefer >= 0) g_object_set(sink, "prefer-layer", prefer, nullptr);

  Meet m;
  m.runner = &runner;
  m.pipeline = pipeline;
  m.play_audio = sink_mode == "auto";
  m.show_video = sink_mode == "auto";
  if (m.show_video && !have_display()) {
    // autovideosink would look further and may pick a console sink (DirectFB) that crashes.
    g_printerr("roomcast meet: no display; frames are counted but not shown (use --sink fake to "
               "silence this)\n");
    m.show_video = false;
  }
  m.verbose = verbose;
  m.want_frames = static_cast<guint64>(frames);
  m.expect = static_cast<guint>(expect);
  if (m.show_video) {
    // The grid's elements go straight into the pipeline (not into a bin of their own): the
    // branches link to compositor pads, and a link across bins would be refused.
    GstElement *bg = gst_element_factory_make("videotestsrc", nullptr);
    GstElement *filter = gst_element_factory_make("capsfilter", nullptr);
    GstElement *grid = gst_element_factory_make("compositor", "grid");
    GstElement *convert = gst_element_factory_make("videoconvert", nullptr);
    GstElement *out = gst_element_factory_make("autovideosink", nullptr);
    if (!bg || !filter || !grid || !convert || !out) {
      g_printerr("roomcast meet: cannot make the grid (compositor, videoconvert and "
                 "autovideosink are needed)\n");
      return 1;
    }
    gst_util_set_object_arg(G_OBJECT(bg), "pattern", "black");
    g_object_set(bg, "is-live", TRUE, nullptr);
    g_autoptr(GstCaps) caps =
        gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, kGridW, "height", G_TYPE_INT,
                            kGridH, "framerate", GST_TYPE_FRACTION, 30, 1, nullptr);
    g_object_set(filter, "caps", caps, nullptr);
    gst_util_set_object_arg(G_OBJECT(grid), "background", "black");
    g_object_set(out, "sync", FALSE, nullptr);
    gst_bin_add_many(GST_BIN(pipeline), bg, filter, grid, convert, out, nullptr);
    if (!gst_element_link_many(bg, filter, grid, convert, out, nullptr)) {
      g_printerr("roomcast meet: cannot link the grid\n");
      return 1;
    }
    m.grid = grid; // owned by the pipeline, which outlives m's use of it
  }
  g_signal_connect(sink, "pad-added", G_CALLBACK(on_remote_pad), &m);
  g_signal_connect(sink, "pad-removed", G_CALLBACK(on_remote_pad_removed), &m);
  runner.watch(pipeline);
  runner.set_stop_at_end_of_stream(false); // the streams end when members/hosts leave
  runner.set_timeout(timeout);
  runner.on_usr1([&m] {
    print_report(&m);
    // With GST_DEBUG_DUMP_DOT_DIR set: the pipeline's graph with each element's state too.
    GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS(GST_BIN(m.pipeline), GST_DEBUG_GRAPH_SHOW_ALL,
                                      "roomcast-meet-report");
  });

  guint checker = g_timeout_add(50, check_done, &m);
  m.start_us = g_get_monotonic_time();
  Runner::Stop stop = Runner::Stop::error;
  m.sink = sink;
  m.room = room_name;
  const std::string me = name ? name : default_name;
  // The lines once we are in the room: a server that cannot be reached, or refuses us, fails
  // before them.
  runner.on_joined([&](const std::string &id, bool rejoin) {
    if (rejoin) return;
    // Members of an embedded server with tokens get one in the lines (12 h), and its pin.
    std::string extra, invite;
    if (server) {
      invite = invite_token(sopts, *server, room_name, proto::Role::Member);
      if (!server->tls_fingerprint().empty()) extra += " --tls-pin " + server->tls_fingerprint();
      if (!invite.empty()) extra += " --token " + invite;
    }
    // On every interface: the address others reach first, a browser link per address.
    const auto hosts = server ? reachable_hosts(sopts.host) : std::vector<std::string>{};
    const std::string url = hosts.empty() ? ws_url : with_host(ws_url, hosts.front());
    console::event("in room '%s' as %s; others join with: %s meet --server %s --room %s%s",
                   room_name.c_str(), member_label(id, me).c_str(), self_command().c_str(),
                   shell_word(url).c_str(), shell_word(room_name).c_str(), extra.c_str());
    for (const auto &h : hosts)
      console::event("browsers open %sroom/%s?role=member%s",
                     with_host(server->http_url(), h).c_str(), room_name.c_str(),
                     invite.empty() ? "" : ("&token=" + invite).c_str());
    if (server) print_server_security("meet", *server);
  });
  guint status = 0;
  if (runner.start()) {
    console::status("joining room '" + room_name + "' at " + ws_url);
    status = g_timeout_add(1000, on_status, &m);
    stop = runner.run();
  }
  if (status) g_source_remove(status);
  console::clear_status();
  g_source_remove(checker);
  // The report describes the meeting as it was when we stopped: take it before the teardown
  // (which removes every remote pad).
  guint ready = 0;
  std::vector<std::string> report = report_lines(&m, &ready);
  runner.stop_pipeline();
  // The sink releases its remote pads again when the pipeline is freed (after `m`).
  g_signal_handlers_disconnect_by_data(sink, &m);
  if (server) server->stop();
  std::string error = runner.error_text();
  if (stop == Runner::Stop::timeout && !m.anyone_seen) {
    error = "nobody else came to room '" + room_name + "' within " + std::to_string(timeout) + " s";
    console::error("%s", error.c_str());
    runner.set_exit_code(kExitNoHost);
  } else if (stop == Runner::Stop::timeout && m.want_frames && ready < m.expect) {
    g_autofree char *text =
        g_strdup_printf("timed out after %d s: %u of %u members sent %" G_GUINT64_FORMAT " frames",
                        timeout, ready, m.expect, m.want_frames);
    error = text;
    console::error("%s", text);
    runner.set_exit_code(kExitTimedOut);
  }
  // The JSON report only when asked for (--report, --frames): what each member sent us, and an
  // "error" line when the run failed.
  if (report_arg || m.want_frames) {
    for (const auto &line : report)
      console::line(line);
    if (runner.exit_code() != kExitOk) {
      g_autoptr(JsonBuilder) b = json_builder_new();
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "error");
      json_builder_add_string_value(b, error.empty() ? "failed" : error.c_str());
      json_builder_end_object(b);
      console::line(json_text(b));
    }
  }
  return runner.exit_code();
}

} // namespace roomcast::app
