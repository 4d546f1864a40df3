// roomcast: screen broadcasting (live) and mesh meetings over WebRTC.
#include "app.h"
#include "console.h"

#include "roomcast-config.h"

#include <clocale>
#include <cstdio>
#include <cstring>

namespace {

struct Command {
  const char *name;
  int (*run)(int, char **);
  const char *summary;
};

const Command kCommands[] = {
    {"serve", roomcast::app::cmd_serve, "run the signalling server and web client"},
    {"live", roomcast::app::cmd_live, "broadcast a screen (or any pipeline) to a room"},
    {"watch", roomcast::app::cmd_watch, "watch a live room with GStreamer"},
    {"meet", roomcast::app::cmd_meet, "join a meeting: send your screen, see everyone"},
    {"token", roomcast::app::cmd_token, "print a room token signed with the server's secret"},
};

void usage(FILE *out) {
  fprintf(out, "Usage: roomcast COMMAND [OPTIONS]\n\nCommands:\n");
  for (const auto &c : kCommands)
    fprintf(out, "  %-8s %s\n", c.name, c.summary);
  fprintf(out, "\n'roomcast COMMAND --help' shows a command's options.\n");
}

} // namespace

int main(int argc, char **argv) {
  // Options arrive in the locale's encoding (GOption converts them to UTF-8: a --name with
  // accents needs it); numbers are always written the C way.
  // Without a locale in the environment (LANG unset: "C", ASCII) GLib would turn every
  // non-ASCII character of its messages into '?' ("Cannot parse integer value ?abc?") and could
  // not read a UTF-8 --name: take C.UTF-8's character set then.
  const char *ctype = setlocale(LC_ALL, "");
  if (!ctype || !strcmp(ctype, "C") || !strcmp(ctype, "POSIX")) setlocale(LC_CTYPE, "C.UTF-8");
  setlocale(LC_NUMERIC, "C");
  // Log lines (join, leave, refusals, and -v's debug lines) go to stderr: stdout carries the
  // commands' results (URLs, JSON lines) for scripts and tests.
  g_log_writer_default_set_use_stderr(TRUE);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("roomcast %s\n", ROOMCAST_VERSION);
    // Which plugin file this binary uses (for packagers, and test_install).
    if (!roomcast::app::init_gstreamer(argc, argv)) return 1;
    g_autoptr(GstElementFactory) f = gst_element_factory_find("roomcastsink");
    g_autoptr(GstPlugin) plugin = gst_plugin_feature_get_plugin(GST_PLUGIN_FEATURE(f));
    printf("plugin %s\n", plugin ? gst_plugin_get_filename(plugin) : "(static)");
    return 0;
  }
  for (const auto &c : kCommands) {
    if (!strcmp(argv[1], c.name)) {
      // The subcommand sees "roomcast NAME" as its program name.
      g_autofree char *prog = g_strdup_printf("roomcast %s", c.name);
      g_set_prgname(prog);
      roomcast::app::console::init(c.name);
      argv[1] = argv[0];
      return c.run(argc - 1, argv + 1);
    }
  }
  fprintf(stderr, "roomcast: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
