// The media side shared by `live` and `meet`: option checks and the source pipeline.
#include "app.h"

#include "roomcast-config.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace roomcast::app {

namespace {

// Replaces ${NAME} with the environment variable's value (empty when unset).
std::string expand_env(const char *cmd, const std::string &in) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    size_t start = in.find("${", i);
    size_t end = start == std::string::npos ? start : in.find('}', start);
    if (end == std::string::npos) {
      out += in.substr(i);
      break;
    }
    out += in.substr(i, start - i);
    std::string name = in.substr(start + 2, end - start - 2);
    const char *v = g_getenv(name.c_str());
    if (!v) g_printerr("roomcast %s: warning: ${%s} is not set\n", cmd, name.c_str());
    out += v ? v : "";
    i = end + 1;
  }
  return out;
}

// The names of the pipelines/ files (without .pipeline), sorted, joined with ", ".
std::string pipeline_names(const std::string &dir) {
  std::vector<std::string> names;
  if (g_autoptr(GDir) d = g_dir_open(dir.c_str(), 0, nullptr))
    while (const char *f = g_dir_read_name(d))
      if (g_str_has_suffix(f, ".pipeline")) names.emplace_back(f, strlen(f) - strlen(".pipeline"));
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto &n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A launch description from --pipeline: a file (given, or in pipelines/) or the text itself.
// A single word that names no file is taken for a file name (a launch description of one element
// could not end in a roomcastsink anyway): false after printing which ones there are.
bool pipeline_text(const char *cmd, const char *arg, std::string &text) {
  // The source tree's pipelines/ only for the uninstalled binary; an installed one uses its own.
  const std::string dir =
      running_from_build_tree() ? ROOMCAST_PIPELINES_DIR : ROOMCAST_PIPELINES_INSTALL_DIR;
  std::string candidates[] = {arg, dir + "/" + arg, dir + "/" + arg + ".pipeline"};
  for (const auto &path : candidates) {
    if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) continue;
    g_autofree char *contents = nullptr;
    if (!g_file_get_contents(path.c_str(), &contents, nullptr, nullptr)) continue;
    // Drop comment lines; join the rest; ${NAME} takes the environment variable's value.
    std::string out;
    g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
    for (char **l = lines; *l; l++) {
      g_strstrip(*l);
      if (**l == '#' || **l == '\0') continue;
      out += *l;
      out += ' ';
    }
    text = expand_env(cmd, out);
    return true;
  }
  if (!strpbrk(arg, " \t!=")) {
    std::string names = pipeline_names(dir);
    g_printerr("roomcast %s: --pipeline %s: no such file, and no %s/%s.pipeline\n"
               "  the pipelines there: %s\n"
               "  or give a launch description ending in '! roomcastsink'\n",
               cmd, arg, dir.c_str(), arg, names.empty() ? "(none)" : names.c_str());
    return false;
  }
  text = expand_env(cmd, arg);
  return true;
}

GstElement *find_roomcastsink(GstElement *pipeline) {
  if (!GST_IS_BIN(pipeline)) return nullptr;
  g_autoptr(GstIterator) it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue v = G_VALUE_INIT;
  GstElement *found = nullptr;
  while (!found && gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    auto *e = GST_ELEMENT(g_value_get_object(&v));
    GstElementFactory *f = gst_element_get_factory(e);
    if (f && g_str_equal(GST_OBJECT_NAME(f), "roomcastsink"))
      found = GST_ELEMENT(gst_object_ref(e));
    g_value_reset(&v);
  }
  g_value_unset(&v);
  return found;
}

} // namespace

bool check_media_options(const char *cmd, const std::string &codec, int fps, int bitrate,
                         const char *size, const char *source_arg, std::string &source, int &width,
                         int &height) {
  if (codec != "vp8" && codec != "vp9" && codec != "h264") {
    g_printerr("roomcast %s: --codec must be vp8, vp9 or h264\n", cmd);
    return false;
  }
  if (fps < 1 || fps > 240 || bitrate < 50 || bitrate > 100000) {
    g_printerr("roomcast %s: --fps must be 1-240 and --bitrate 50-100000\n", cmd);
    return false;
  }
  width = height = 0;
  if (size && (sscanf(size, "%dx%d", &width, &height) != 2 || width < 16 || height < 16 ||
               width > 7680 || height > 4320)) {
    g_printerr("roomcast %s: --size must look like 1280x720\n", cmd);
    return false;
  }
  source = source_arg ? source_arg : (g_getenv("DISPLAY") ? "screen" : "test");
  if (source != "screen" && source != "test") {
    g_printerr("roomcast %s: --source must be screen or test\n", cmd);
    return false;
  }
  return true;
}

GstElement *build_media_pipeline(const MediaOptions &m, GstElement **sink_out) {
  // A description ending in a roomcastsink, or one we build.
  std::string desc;
  int width = m.width, height = m.height;
  if (m.pipeline) {
    if (!pipeline_text(m.cmd, m.pipeline, desc)) return nullptr;
  } else if (m.source == "test") {
    if (!width) width = 1280, height = 720;
    desc = "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=" +
           std::to_string(width) + ",height=" + std::to_string(height) +
           ",framerate=" + std::to_string(m.fps) +
           "/1 ! timeoverlay font-desc=\"Sans 24\" ! roomcastsink name=roomcast";
    if (m.audio)
      desc += " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! roomcast.audio_0";
  } else {
    desc = "ximagesrc use-damage=false show-pointer=true ! video/x-raw,framerate=" +
           std::to_string(m.fps) + "/1 ! videoconvert";
    if (width)
      desc += " ! videoscale ! video/x-raw,width=" + std::to_string(width) +
              ",height=" + std::to_string(height);
    desc += " ! roomcastsink name=roomcast";
    if (m.audio) {
      g_autoptr(GstElementFactory) pulse = gst_element_factory_find("pulsesrc");
      desc += pulse ? " pulsesrc ! roomcast.audio_0"
                    : " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! roomcast.audio_0";
      if (!pulse)
        g_printerr("roomcast %s: pulsesrc is not installed; sending a test tone\n", m.cmd);
    }
  }
  g_autoptr(GError) perr = nullptr;
  GstElement *pipeline =
      gst_parse_launch_full(desc.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &perr);
  if (!pipeline) {
    g_printerr("roomcast %s: bad pipeline: %s\n  %s\n", m.cmd, perr ? perr->message : "?",
               desc.c_str());
    return nullptr;
  }
  // A plain (not floating) reference from here on: the caller and the runner each hold one.
  if (g_object_is_floating(pipeline)) gst_object_ref_sink(pipeline);
  if (!GST_IS_PIPELINE(pipeline)) {
    GstElement *p = GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new(nullptr)));
    gst_bin_add(GST_BIN(p), pipeline); // takes a reference of its own
    gst_object_unref(pipeline);
    pipeline = p;
  }
  GstElement *sink = find_roomcastsink(pipeline);
  if (!sink) {
    g_printerr("roomcast %s: the pipeline has no roomcastsink; end it with '! roomcastsink'\n",
               m.cmd);
    gst_object_unref(pipeline);
    return nullptr;
  }
  *sink_out = sink;
  return pipeline;
}

void report_pipeline_error(const char *cmd, GstMessage *msg, bool verbose) {
  std::string text = describe_error(msg, verbose);
  const char *src = GST_OBJECT_NAME(GST_MESSAGE_SRC(msg));
  if (g_str_has_prefix(src, "ximagesrc") || text.find("X display") != std::string::npos)
    g_printerr("roomcast %s: cannot capture the screen (DISPLAY=%s): %s\n"
               "  try --source test, or run under a desktop or Xvfb\n",
               cmd, g_getenv("DISPLAY") ? g_getenv("DISPLAY") : "unset", text.c_str());
  else if (text.find("cannot reach the signalling server") != std::string::npos)
    g_printerr("roomcast %s: %s\n"
               "  is a server running there? (roomcast serve, or a roomcast live or meet without "
               "--server)\n",
               cmd, text.c_str());
  else
    g_printerr("roomcast %s: %s\n", cmd, text.c_str());
}

bool set_signaller_uri(const char *cmd, GstElement *element, const std::string &uri) {
  GObject *target = nullptr;
  GParamSpec *pspec = nullptr;
  if (!GST_IS_CHILD_PROXY(element) ||
      !gst_child_proxy_lookup(GST_CHILD_PROXY(element), "signaller::uri", &target, &pspec)) {
    g_printerr("roomcast %s: %s has no signaller::uri property to point at %s\n", cmd,
               GST_OBJECT_NAME(element), uri.c_str());
    return false;
  }
  g_object_unref(target);
  if (pspec->value_type != G_TYPE_STRING || !(pspec->flags & G_PARAM_WRITABLE)) {
    g_printerr("roomcast %s: %s's signaller::uri is not a writable string\n", cmd,
               GST_OBJECT_NAME(element));
    return false;
  }
  gst_child_proxy_set(GST_CHILD_PROXY(element), "signaller::uri", uri.c_str(), nullptr);
  return true;
}

} // namespace roomcast::app
