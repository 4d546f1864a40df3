#include "app.h"

#include <glib-unix.h>

#include <csignal>
#include <cstdio>

namespace roomcast::app {

namespace {
struct ServerOptionStorage {
  gint64 max_message_size;
  int max_rooms, max_peers, max_connections, max_burst, ping_interval, ping_timeout;
  double max_rate;
  char *web_root;
};
} // namespace

GOptionGroup *server_option_group(ServerOptions &opts) {
  // GOption writes into plain C storage; copy back after parsing via the group's hook.
  auto *st = new ServerOptionStorage{static_cast<gint64>(opts.max_message_size),
                                     static_cast<int>(opts.max_rooms),
                                     static_cast<int>(opts.max_peers_per_room),
                                     static_cast<int>(opts.max_connections),
                                     static_cast<int>(opts.max_burst),
                                     static_cast<int>(opts.ping_interval_s),
                                     static_cast<int>(opts.ping_timeout_s),
                                     opts.max_rate,
                                     nullptr};
  static GOptionEntry entries[] = {
      {"max-message-size", 0, 0, G_OPTION_ARG_INT64, nullptr, "Largest message in bytes (65536)", "BYTES"},
      {"max-rooms", 0, 0, G_OPTION_ARG_INT, nullptr, "Most rooms at once (1000)", "N"},
      {"max-peers", 0, 0, G_OPTION_ARG_INT, nullptr, "Most peers in one room (200)", "N"},
      {"max-connections", 0, 0, G_OPTION_ARG_INT, nullptr, "Most WebSocket connections (20000)", "N"},
      {"max-rate", 0, 0, G_OPTION_ARG_DOUBLE, nullptr, "Messages per second per connection (50)", "N"},
      {"max-burst", 0, 0, G_OPTION_ARG_INT, nullptr, "Messages a connection may send at once (200)", "N"},
      {"ping-interval", 0, 0, G_OPTION_ARG_INT, nullptr, "Seconds between keepalive pings (10)", "S"},
      {"ping-timeout", 0, 0, G_OPTION_ARG_INT, nullptr, "Drop a connection silent this long (30)", "S"},
      {"web-root", 0, 0, G_OPTION_ARG_FILENAME, nullptr, "Serve the web client from this folder", "DIR"},
      {nullptr}};
  entries[0].arg_data = &st->max_message_size;
  entries[1].arg_data = &st->max_rooms;
  entries[2].arg_data = &st->max_peers;
  entries[3].arg_data = &st->max_connections;
  entries[4].arg_data = &st->max_rate;
  entries[5].arg_data = &st->max_burst;
  entries[6].arg_data = &st->ping_interval;
  entries[7].arg_data = &st->ping_timeout;
  entries[8].arg_data = &st->web_root;
  struct Hook {
    ServerOptions *opts;
    ServerOptionStorage *st;
  };
  auto *hook = new Hook{&opts, st};
  GOptionGroup *group = g_option_group_new(
      "server", "Signalling server limits:", "Show the signalling server's limits", hook,
      [](gpointer p) {
        auto *h = static_cast<Hook *>(p);
        g_free(h->st->web_root);
        delete h->st;
        delete h;
      });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext *, GOptionGroup *, gpointer p, GError **error) -> gboolean {
        auto *h = static_cast<Hook *>(p);
        auto *s = h->st;
        if (s->max_message_size < 1024 || s->max_rooms < 1 || s->max_peers < 1 ||
            s->max_connections < 1 || s->max_burst < 1 || s->max_rate <= 0 ||
            s->ping_interval < 1 || s->ping_timeout <= s->ping_interval) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "server limits must be positive, --max-message-size at least 1024 and "
                      "--ping-timeout longer than --ping-interval");
          return FALSE;
        }
        h->opts->max_message_size = static_cast<std::uint64_t>(s->max_message_size);
        h->opts->max_rooms = s->max_rooms;
        h->opts->max_peers_per_room = s->max_peers;
        h->opts->max_connections = s->max_connections;
        h->opts->max_rate = s->max_rate;
        h->opts->max_burst = s->max_burst;
        h->opts->ping_interval_s = s->ping_interval;
        h->opts->ping_timeout_s = s->ping_timeout;
        if (s->web_root) h->opts->web_root = s->web_root;
        return TRUE;
      });
  return group;
}

void quit_on_signals(GMainLoop *loop) {
  auto quit = [](gpointer data) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop *>(data));
    return G_SOURCE_CONTINUE;
  };
  g_unix_signal_add(SIGINT, quit, loop);
  g_unix_signal_add(SIGTERM, quit, loop);
}

void enable_verbose() {
  const char *cur = g_getenv("G_MESSAGES_DEBUG");
  if (!cur || !*cur) g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
}

bool parse_options(GOptionContext *ctx, int &argc, char **&argv) {
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    g_printerr("roomcast: %s\n", err->message);
    return false;
  }
  return true;
}

} // namespace roomcast::app
