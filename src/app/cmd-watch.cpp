// roomcast watch: a GStreamer viewer for a live room.
#include "app.h"
#include "console.h"
#include "gst-threads.h"
#include "runner.h"

#include <cmath>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace roomcast::app {

namespace {

struct Watch {
  Runner *runner = nullptr;
  GstElement *pipeline = nullptr;
  bool show_video = true; // --sink auto with a display
  bool play_audio = true; // --sink auto
  guint64 want_frames = 0;
  bool verbose = false;
  gint64 start_us = 0;
  // Written on streaming threads.
  std::atomic<guint64> frames{0};
  std::atomic<guint64> audio_buffers{0};
  std::atomic<gint64> first_frame_us{0};
  std::atomic<gint64> last_frame_us{0};
  std::atomic<gint64> max_gap_us{0};
  std::atomic<gint64> recent_gap_us{0}; // the longest gap since the last progress line
  std::atomic<int> width{0}, height{0};
  std::atomic<bool> done{false};
  std::mutex lock;                              // guards branches
  std::map<std::string, GstElement *> branches; // pad name -> what we linked to it
  std::string host;                             // (main loop) whose video we get now
  GstElement *src = nullptr;                    // roomcastsrc (borrowed)
  std::string room, url;
  // For the lines and the exit code: a host was in the room at some time; one is there now.
  std::atomic<bool> host_seen{false}, host_here{false};
  std::atomic<bool> stopping{false}; // the run is over: the teardown's host-left is no event
  gint64 waiting_since_us = 0;       // (main loop) since when we wait for a host or its picture
  guint64 status_frames = 0;         // (main loop) frames at the last status line
  gint64 status_us = 0;
};

// Emitted on roomcastsrc's threads: the host of the room (our one peer) came or went.
void on_host_added(GstElement *, const char *id, GstElement *, gpointer data) {
  auto *w = static_cast<Watch *>(data);
  w->host_seen = true;
  w->host_here = true;
  console::event("host %s is in room '%s'; connecting", id, w->room.c_str());
}

void on_host_removed(GstElement *, const char *id, gpointer data) {
  auto *w = static_cast<Watch *>(data);
  w->host_here = false;
  if (w->stopping) return;
  console::event("host %s left; waiting for a host to come back to room '%s'", id, w->room.c_str());
}

// Once a second on the main loop: what we wait for, or what we receive.
gboolean on_status(gpointer data) {
  auto *w = static_cast<Watch *>(data);
  const gint64 now = g_get_monotonic_time();
  const guint64 frames = w->frames.load();
  const bool flowing = frames > w->status_frames && now - w->last_frame_us.load() < G_USEC_PER_SEC;
  const double fps = w->status_us && frames >= w->status_frames
                         ? (frames - w->status_frames) * 1e6 / double(now - w->status_us)
                         : 0;
  w->status_frames = frames;
  w->status_us = now;
  if (flowing) {
    w->waiting_since_us = 0;
    g_autofree char *text = g_strdup_printf(
        "receiving %dx%d from %s  %.1f fps  %" G_GUINT64_FORMAT " frames", w->width.load(),
        w->height.load(), w->host.empty() ? "the host" : w->host.c_str(), fps, frames);
    console::status(text);
    return G_SOURCE_CONTINUE;
  }
  if (!w->waiting_since_us) w->waiting_since_us = now;
  const int waited = int((now - w->waiting_since_us) / G_USEC_PER_SEC);
  if (w->host_here)
    console::status("connecting to the host of room '" + w->room + "' (" + std::to_string(waited) +
                    " s)");
  else
    console::status("waiting for a host in room '" + w->room + "' at " + w->url + " (" +
                    std::to_string(waited) + " s)");
  return G_SOURCE_CONTINUE;
}

// The ICE path of the session with the host, from roomcastsrc's stats, as JSON members
// `local_candidate` and `remote_candidate`: the selected pair's candidate types ("relay": through
// a TURN server; "" when there was no session).
void add_path(JsonBuilder *b, GstElement *src) {
  GstStructure *stats = nullptr;
  g_object_get(src, "stats", &stats, nullptr);
  const char *local = nullptr, *remote = nullptr;
  const GValue *list = stats ? gst_structure_get_value(stats, "peers") : nullptr;
  if (list && gst_value_list_get_size(list) > 0) {
    const GstStructure *p = gst_value_get_structure(gst_value_list_get_value(list, 0));
    local = gst_structure_get_string(p, "local-candidate-type");
    remote = gst_structure_get_string(p, "remote-candidate-type");
  }
  json_builder_set_member_name(b, "local_candidate");
  json_builder_add_string_value(b, local ? local : "");
  json_builder_set_member_name(b, "remote_candidate");
  json_builder_add_string_value(b, remote ? remote : "");
  if (stats) gst_structure_free(stats);
}

// The host link's loss-recovery numbers from roomcastsrc's stats, as JSON members: what our
// jitterbuffers asked to be sent again and got in time, what they gave up, their latency.
void add_link(JsonBuilder *b, GstElement *src) {
  GstStructure *stats = nullptr;
  g_object_get(src, "stats", &stats, nullptr);
  if (!stats) return;
  const GValue *list = gst_structure_get_value(stats, "peers");
  if (list && gst_value_list_get_size(list) > 0) {
    const GstStructure *p = gst_value_get_structure(gst_value_list_get_value(list, 0));
    guint64 v = 0;
    gint64 lost = 0;
    guint latency = 0;
    json_builder_set_member_name(b, "link");
    json_builder_begin_object(b);
    for (const char *f :
         {"packets-received", "rtx-requested", "rtx-recovered", "packets-given-up"}) {
      v = 0;
      gst_structure_get_uint64(p, f, &v);
      g_autofree char *key = g_strdelimit(g_strdup(f), "-", '_');
      json_builder_set_member_name(b, key);
      json_builder_add_int_value(b, gint64(v));
    }
    gst_structure_get_int64(p, "recv-packets-lost", &lost);
    json_builder_set_member_name(b, "packets_lost");
    json_builder_add_int_value(b, lost);
    gst_structure_get_uint(p, "latency", &latency);
    json_builder_set_member_name(b, "latency_ms");
    json_builder_add_int_value(b, latency);
    json_builder_end_object(b);
  }
  gst_structure_free(stats);
}

GstPadProbeReturn on_video_buffer(GstPad *pad, GstPadProbeInfo *, gpointer data) {
  auto *w = static_cast<Watch *>(data);
  gint64 now = g_get_monotonic_time();
  gint64 expected = 0;
  w->first_frame_us.compare_exchange_strong(expected, now);
  gint64 last = w->last_frame_us.exchange(now);
  if (last && now - last > w->max_gap_us) w->max_gap_us = now - last;
  if (last && now - last > w->recent_gap_us) w->recent_gap_us = now - last;
  if (w->width == 0) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    int width = 0, height = 0;
    if (caps) {
      const GstStructure *s = gst_caps_get_structure(caps, 0);
      gst_structure_get_int(s, "width", &width);
      gst_structure_get_int(s, "height", &height);
    }
    w->width = width;
    w->height = height;
  }
  guint64 n = ++w->frames;
  if (w->want_frames && n == w->want_frames && !w->done.exchange(true)) w->runner->quit();
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn on_audio_buffer(GstPad *, GstPadProbeInfo *, gpointer data) {
  static_cast<Watch *>(data)->audio_buffers++;
  return GST_PAD_PROBE_OK;
}

// Main loop: give a remote stream somewhere to go.
void add_branch(Watch *w, GstPad *pad) {
  bool video = g_str_has_prefix(GST_PAD_NAME(pad), "video");
  const char *desc = video ? (w->show_video ? "queue ! videoconvert ! autovideosink sync=false"
                                            : "queue ! fakesink sync=false async=false")
                           : (w->play_audio ? "queue ! audioconvert ! audioresample ! autoaudiosink"
                                            : "queue ! fakesink sync=false async=false");
  g_autoptr(GError) err = nullptr;
  GstElement *bin = gst_parse_bin_from_description(desc, TRUE, &err);
  if (!bin) {
    g_printerr("roomcast watch: %s\n", err ? err->message : "cannot make a sink");
    return;
  }
  // A sink that prerolls (autovideosink's) does it inside its branch: the running pipeline
  // does not lose its state to it (see sync_to_target).
  g_object_set(bin, "async-handling", TRUE, nullptr);
  gst_bin_add(GST_BIN(w->pipeline), bin);
  {
    std::lock_guard l(w->lock);
    w->branches[GST_PAD_NAME(pad)] = bin;
  }
  roomcast::sync_to_target(bin);
  GstPad *sink = gst_element_get_static_pad(bin, "sink");
  gst_pad_link(pad, sink);
  gst_object_unref(sink);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, video ? on_video_buffer : on_audio_buffer, w,
                    nullptr);
  if (video && g_object_class_find_property(G_OBJECT_GET_CLASS(pad), "peer-id")) {
    g_autofree char *id = nullptr;
    g_object_get(pad, "peer-id", &id, nullptr);
    w->host = id ? id : "";
  }
  if (video)
    console::event("receiving video from host %s", w->host.empty() ? "?" : w->host.c_str());
  if (w->verbose) g_printerr("roomcast watch: receiving %s\n", GST_PAD_NAME(pad));
}

// Streaming thread: a remote stream appeared; it waits (blocked) while the main loop links it.
void on_pad_added(GstElement *, GstPad *pad, gpointer data) {
  auto *w = static_cast<Watch *>(data);
  roomcast::link_on(nullptr, pad, [w](GstPad *p) { add_branch(w, p); });
}

// Main loop, in order after the add_branch queued for the same pad: the host left, drop what
// was linked to its stream.
void drop_branch(Watch *w, const std::string &pad_name) {
  GstElement *bin = nullptr;
  {
    std::lock_guard l(w->lock);
    auto it = w->branches.find(pad_name);
    if (it == w->branches.end()) return;
    bin = it->second;
    w->branches.erase(it);
  }
  gst_element_set_state(bin, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(w->pipeline), bin);
  if (w->verbose) g_printerr("roomcast watch: %s ended\n", pad_name.c_str());
}

void on_pad_removed(GstElement *, GstPad *pad, gpointer data) {
  auto *w = static_cast<Watch *>(data);
  roomcast::invoke_on(nullptr,
                      [w, name = std::string(GST_PAD_NAME(pad))] { drop_branch(w, name); });
}

// The result line: what arrived, as one JSON object. Times are in whole milliseconds. A run that
// failed has an "error" member saying why (and its numbers are what arrived until then).
std::string result_json(Watch &w, const std::string &error) {
  auto ms = [](gint64 us) { return std::round(us / 1000.0); };
  gint64 first = w.first_frame_us.load();
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "frames");
  json_builder_add_int_value(b, static_cast<gint64>(w.frames.load()));
  json_builder_set_member_name(b, "width");
  json_builder_add_int_value(b, w.width.load());
  json_builder_set_member_name(b, "height");
  json_builder_add_int_value(b, w.height.load());
  json_builder_set_member_name(b, "first_frame_ms");
  json_builder_add_double_value(b, first ? ms(first - w.start_us) : -1.0);
  json_builder_set_member_name(b, "max_gap_ms");
  json_builder_add_double_value(b, ms(w.max_gap_us.load()));
  json_builder_set_member_name(b, "audio_buffers");
  json_builder_add_int_value(b, static_cast<gint64>(w.audio_buffers.load()));
  if (w.src) add_path(b, w.src);
  if (w.src) add_link(b, w.src);
  if (!error.empty()) {
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, error.c_str());
  }
  json_builder_end_object(b);
  return json_text(b);
}

// --progress, once a second on the main loop: what arrived so far, as one line
// `progress {"t_ms":…,"frames":…,"gap_ms":…,"host":"…"}` (gap_ms: the longest time between two
// frames since the previous line; host: whose video we get). Progress lines start with
// "progress " so that the result line stays the last one that starts with "{".
gboolean print_progress(gpointer data) {
  auto *w = static_cast<Watch *>(data);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "t_ms");
  json_builder_add_int_value(b, (g_get_monotonic_time() - w->start_us) / 1000);
  json_builder_set_member_name(b, "frames");
  json_builder_add_int_value(b, static_cast<gint64>(w->frames.load()));
  json_builder_set_member_name(b, "gap_ms");
  json_builder_add_int_value(b, w->recent_gap_us.exchange(0) / 1000);
  json_builder_set_member_name(b, "host");
  json_builder_add_string_value(b, w->host.c_str());
  add_link(b, w->src);
  json_builder_end_object(b);
  console::line("progress " + json_text(b));
  return G_SOURCE_CONTINUE;
}

} // namespace

int cmd_watch(int argc, char **argv) {
  g_autofree char *server = nullptr, *room = nullptr, *sink = nullptr, *ice = nullptr,
                  *stun = nullptr;
  g_auto(GStrv) turn = nullptr;
  int frames = 0, timeout = 0, latency = 50, prefer = -1;
  gboolean verbose = FALSE, progress = FALSE;
  GOptionEntry entries[] = {
      {"server", 's', 0, G_OPTION_ARG_STRING, &server, "Signalling server (ws://127.0.0.1:8443/ws)",
       "URL"},
      {"room", 'r', 0, G_OPTION_ARG_STRING, &room, "Room to watch (demo)", "NAME"},
      {"sink", 0, 0, G_OPTION_ARG_STRING, &sink, "auto (a window) or fake (drop frames)", "SINK"},
      {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Exit 0 after this many decoded frames", "N"},
      {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "Give up (exit 3) after this many seconds",
       "S"},
      {"latency", 0, 0, G_OPTION_ARG_INT, &latency,
       "Jitterbuffer latency floor in ms (50); raised to fit a lossy or jittery link", "MS"},
      {"ice-loopback", 0, 0, G_OPTION_ARG_STRING, &ice,
       "Add 127.0.0.1 to ICE: on, off or auto (when the server is on loopback)", "MODE"},
      {"stun", 0, 0, G_OPTION_ARG_STRING, &stun,
       "STUN server (stun://HOST:PORT), instead of the server's", "URI"},
      {"turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn,
       "TURN server (turn(s)://USER:PASSWORD@HOST:PORT), instead of the server's; repeatable",
       "URI"},
      {"prefer", 0, 0, G_OPTION_ARG_INT, &prefer,
       "Ask the host for at most this layer of its ladder (0: full size, 1: the next smaller, "
       "...; a host without a ladder ignores it)",
       "N"},
      {"progress", 0, 0, G_OPTION_ARG_NONE, &progress,
       "Print a progress line (JSON after 'progress ') every second", nullptr},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "More detail", nullptr},
      {nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- watch a live room");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(ctx, exit_codes_help(HelpKind::receive));
  ClientOptions copts;
  g_option_context_add_group(ctx, client_option_group(copts));
  g_option_context_add_group(ctx, gst_init_get_option_group());
  if (!parse_options(ctx, argc, argv)) return 2;
  if (verbose) enable_verbose();
  if (frames < 0 || timeout < 0 || latency < 0) {
    g_printerr("roomcast watch: --frames, --timeout and --latency must not be negative\n");
    return 2;
  }
  if (prefer != -1 && (prefer < 0 || prefer > int(proto::kMaxPreferLayer))) {
    g_printerr("roomcast watch: --prefer must be a layer from 0 to %d\n",
               int(proto::kMaxPreferLayer));
    return 2;
  }
  std::string sink_mode = sink ? sink : "auto";
  if (sink_mode != "auto" && sink_mode != "fake") {
    g_printerr("roomcast watch: --sink must be auto or fake\n");
    return 2;
  }
  ice::ServerSetup own;
  if (!parse_ice_options("watch", stun, turn, own)) return 2;
  if (!init_gstreamer(argc, argv)) return 1;
  std::string url = server ? server : "ws://127.0.0.1:8443/ws";
  std::string room_name = room ? room : "demo";

  Watch w;
  w.play_audio = sink_mode == "auto";
  w.show_video = sink_mode == "auto";
  if (w.show_video && !have_display()) {
    // autovideosink would look further and may pick a console sink (DirectFB) that crashes.
    g_printerr("roomcast watch: no display; frames are counted but not shown (use --sink fake to "
               "silence this)\n");
    w.show_video = false;
  }
  w.want_frames = static_cast<guint64>(frames);
  w.verbose = verbose;
  Runner runner("watch", verbose);
  w.runner = &runner;
  g_autoptr(GstElement) pipeline = GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new("watch")));
  w.pipeline = pipeline;
  GstElement *src = gst_element_factory_make("roomcastsrc", "roomcast");
  gst_bin_add(GST_BIN(pipeline), src);
  w.src = src;
  if (!set_signaller_uri("watch", src, url)) return 1;
  if (!apply_client_options("watch", src, copts, ServerOptions{}, nullptr, room_name, "viewer"))
    return 1;
  g_object_set(src, "room", room_name.c_str(), "latency", guint(latency), "ice-loopback",
               loopback_ice(ice, url), "prefer-layer", prefer, nullptr);
  if (!set_element_ice("watch", src, own)) return 2;
  g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), &w);
  g_signal_connect(src, "pad-removed", G_CALLBACK(on_pad_removed), &w);
  g_signal_connect(src, "peer-added", G_CALLBACK(on_host_added), &w);
  g_signal_connect(src, "peer-removed", G_CALLBACK(on_host_removed), &w);
  w.room = room_name;
  w.url = url;
  runner.on_joined([&w](const std::string &, bool rejoin) {
    if (!rejoin && !w.host_here)
      console::event("in room '%s'; waiting for its host", w.room.c_str());
  });
  runner.watch(pipeline);
  runner.set_stop_at_end_of_stream(false); // the host's streams end when it leaves
  runner.set_timeout(timeout);

  w.start_us = g_get_monotonic_time();
  console::status("joining room '" + room_name + "' at " + url);
  guint progress_timer = progress ? g_timeout_add(1000, print_progress, &w) : 0;
  guint status_timer = g_timeout_add(1000, on_status, &w);
  Runner::Stop stop = runner.start() ? runner.run() : Runner::Stop::error;
  if (progress_timer) g_source_remove(progress_timer);
  g_source_remove(status_timer);
  w.stopping = true;
  console::clear_status();

  // Why the run failed, for the exit code, the message and the result's "error".
  std::string error = runner.error_text();
  if (error.empty() && stop == Runner::Stop::error) error = "the pipeline could not start";
  if (stop == Runner::Stop::timeout && w.frames < std::max<guint64>(w.want_frames, 1)) {
    if (!w.host_seen) {
      error = "no host came to room '" + room_name + "' within " + std::to_string(timeout) + " s";
      console::error("%s (is the host live in this room, at %s?)", error.c_str(), url.c_str());
      runner.set_exit_code(kExitNoHost);
    } else {
      g_autofree char *text =
          g_strdup_printf("timed out after %d s with %" G_GUINT64_FORMAT " of %d frames", timeout,
                          w.frames.load(), frames);
      error = text;
      console::error("%s%s", text, w.frames == 0 ? " (the host is there: no network path?)" : "");
      runner.set_exit_code(kExitTimedOut);
      // Each element's state and caps, for finding where the pictures stopped (written only
      // when GST_DEBUG_DUMP_DOT_DIR is set).
      GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS(GST_BIN(pipeline), GST_DEBUG_GRAPH_SHOW_ALL,
                                        "roomcast-watch-timed-out");
    }
  }
  // With the link's numbers, before the peer is gone.
  std::string result = result_json(w, runner.exit_code() == kExitOk ? std::string() : error);
  runner.stop_pipeline();
  g_signal_handlers_disconnect_by_data(src, &w);
  console::line(result);
  return runner.exit_code();
}

} // namespace roomcast::app
