#include "app.h"

#include "roomcast-config.h"

#include <cstdio>
#include <cstring>

namespace roomcast::app {

namespace {
struct ServerOptionStorage {
  gint64 max_message_size;
  int max_rooms, max_peers, max_connections, max_burst, ping_interval, ping_timeout;
  double max_rate;
  char *web_root;
  char *turn_secret;
  int turn_ttl;
};
} // namespace

bool read_turn_secret(const char *source, std::string &secret, GError **error) {
  std::string text;
  if (g_str_has_prefix(source, "env:")) {
    const char *name = source + 4;
    const char *value = *name ? g_getenv(name) : nullptr;
    if (!value) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "--turn-secret: the environment variable '%s' is not set", name);
      return false;
    }
    text = value;
    // Not handed down to anything this process starts.
    g_unsetenv(name);
  } else {
    const char *path = g_str_has_prefix(source, "file:") ? source + 5 : source;
    g_autofree char *contents = nullptr;
    g_autoptr(GError) err = nullptr;
    if (!g_file_get_contents(path, &contents, nullptr, &err)) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "--turn-secret: %s (give a file, file:PATH, or env:VARIABLE)", err->message);
      return false;
    }
    text = contents;
  }
  // A file's (or a variable's) trailing newline and spaces are not part of the secret.
  while (!text.empty() && g_ascii_isspace(text.back()))
    text.pop_back();
  if (text.empty()) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--turn-secret: the secret is empty");
    return false;
  }
  secret = std::move(text);
  return true;
}

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
                                     nullptr,
                                     nullptr,
                                     static_cast<int>(opts.ice.ttl_s)};
  static GOptionEntry entries[] = {
      {"max-message-size", 0, 0, G_OPTION_ARG_INT64, nullptr, "Largest message in bytes (65536)",
       "BYTES"},
      {"max-rooms", 0, 0, G_OPTION_ARG_INT, nullptr, "Most rooms at once (1000)", "N"},
      {"max-peers", 0, 0, G_OPTION_ARG_INT, nullptr, "Most peers in one room (200)", "N"},
      {"max-connections", 0, 0, G_OPTION_ARG_INT, nullptr, "Most WebSocket connections (20000)",
       "N"},
      {"max-rate", 0, 0, G_OPTION_ARG_DOUBLE, nullptr, "Messages per second per connection (50)",
       "N"},
      {"max-burst", 0, 0, G_OPTION_ARG_INT, nullptr, "Messages a connection may send at once (200)",
       "N"},
      {"ping-interval", 0, 0, G_OPTION_ARG_INT, nullptr, "Seconds between keepalive pings (10)",
       "S"},
      {"ping-timeout", 0, 0, G_OPTION_ARG_INT, nullptr, "Drop a connection silent this long (30)",
       "S"},
      {"web-root", 0, 0, G_OPTION_ARG_FILENAME, nullptr, "Serve the web client from this folder",
       "DIR"},
      {"turn-secret", 0, 0, G_OPTION_ARG_FILENAME, nullptr,
       "TURN REST shared secret (coturn's static-auth-secret), read from a file or env:VARIABLE: "
       "each client gets credentials of its own for the --turn servers",
       "FILE|env:VAR"},
      {"turn-ttl", 0, 0, G_OPTION_ARG_INT, nullptr,
       "Seconds the TURN REST credentials are valid (86400)", "S"},
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
  entries[9].arg_data = &st->turn_secret;
  entries[10].arg_data = &st->turn_ttl;
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
        g_free(h->st->turn_secret);
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
        if (s->turn_ttl < 1) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "--turn-ttl must be positive");
          return FALSE;
        }
        h->opts->ice.ttl_s = s->turn_ttl;
        if (s->turn_secret && !read_turn_secret(s->turn_secret, h->opts->ice.secret, error))
          return FALSE;
        return TRUE;
      });
  return group;
}

bool parse_ice_options(const char *cmd, const char *stun, char **turn, ice::ServerSetup &out) {
  std::string why;
  if (stun) {
    auto u = ice::parse_uri(stun, ice::Form::Any, &why);
    if (!u || u->is_turn()) {
      g_printerr("roomcast %s: --stun %s: %s\n", cmd, stun,
                 u ? "a STUN server's URI starts with stun:" : why.c_str());
      return false;
    }
    out.stun.push_back(*u);
  }
  for (char **t = turn; t && *t; t++) {
    auto u = ice::parse_uri(*t, ice::Form::Any, &why);
    if (!u || !u->is_turn()) {
      g_printerr("roomcast %s: --turn %s: %s\n", cmd, *t,
                 u ? "a TURN server's URI starts with turn: or turns:" : why.c_str());
      return false;
    }
    out.turn.push_back(*u);
  }
  return true;
}

bool check_ice_setup(const char *cmd, const ice::ServerSetup &setup) {
  std::string why;
  if (ice::check_setup(setup, &why)) return true;
  g_printerr("roomcast %s: %s\n", cmd, why.c_str());
  return false;
}

bool set_element_ice(const char *cmd, GstElement *element, const ice::ServerSetup &setup) {
  if (!setup.secret.empty()) {
    g_printerr("roomcast %s: --turn-secret is for a server: use it with `roomcast serve`, or "
               "without --server\n",
               cmd);
    return false;
  }
  if (!check_ice_setup(cmd, setup)) return false;
  if (!setup.stun.empty())
    g_object_set(element, "stun-server", ice::gst_uri(setup.stun.front()).c_str(), nullptr);
  std::vector<std::string> turn;
  for (const auto &u : setup.turn)
    turn.push_back(ice::gst_uri(u));
  if (!turn.empty()) g_object_set(element, "turn-server", ice::join_list(turn).c_str(), nullptr);
  return true;
}

void print_ice_setup(const char *cmd, const ice::ServerSetup &setup) {
  if (setup.empty()) return;
  std::string text;
  for (const auto &u : setup.stun)
    text += (text.empty() ? "" : ", ") + ice::rtc_url(u);
  for (const auto &u : setup.turn)
    text += (text.empty() ? "" : ", ") + ice::rtc_url(u);
  if (!setup.secret.empty())
    text += " (TURN REST credentials per client, valid " + std::to_string(setup.ttl_s) + " s)";
  printf("roomcast %s: ICE servers for clients: %s\n", cmd, text.c_str());
}

bool use_or_embed_server(const char *cmd, const char *server_arg, const char *host, int port,
                         ServerOptions &opts, std::unique_ptr<Server> &server,
                         std::string &ws_url) {
  if (server_arg) {
    ws_url = server_arg;
    return true;
  }
  if (port < 0 || port > 65535) {
    g_printerr("roomcast %s: --port must be 0-65535\n", cmd);
    return false;
  }
  opts.host = host ? host : "127.0.0.1";
  opts.port = static_cast<unsigned>(port);
  server = std::make_unique<Server>(opts);
  g_autoptr(GError) err = nullptr;
  if (!server->start(&err)) {
    g_printerr("roomcast %s: %s\n", cmd, err->message);
    return false;
  }
  ws_url = server->ws_url();
  return true;
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

namespace {
// libnice warns "We still have alive TURN refreshes. Consider using nice_agent_close_async() ..."
// whenever an agent that holds TURN allocations is freed: webrtcbin 1.22 frees its agent without
// that call, at every end of a relayed peer. Nothing we can act on (the allocation expires at the
// TURN server; docs/architecture.md, TURN): not printed. Every other libnice message is.
void on_libnice_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer) {
  if (message && strstr(message, "alive TURN refreshes")) return;
  g_log_default_handler(domain, level, message, nullptr);
}
} // namespace

bool init_gstreamer(int &argc, char **&argv) {
  g_log_set_handler("libnice", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE),
                    on_libnice_log, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!gst_init_check(&argc, &argv, &err)) {
    g_printerr("roomcast: cannot initialise GStreamer: %s\n", err ? err->message : "?");
    return false;
  }
  for (const char *dir : {ROOMCAST_BUILD_PLUGIN_DIR, ROOMCAST_INSTALLED_PLUGIN_DIR}) {
    g_autoptr(GstElementFactory) f = gst_element_factory_find("roomcastsink");
    if (f) return true;
    if (g_file_test(dir, G_FILE_TEST_IS_DIR)) gst_registry_scan_path(gst_registry_get(), dir);
  }
  g_autoptr(GstElementFactory) f = gst_element_factory_find("roomcastsink");
  if (!f) {
    g_printerr("roomcast: the roomcast GStreamer plugin was not found (set GST_PLUGIN_PATH to the "
               "folder holding libgstroomcast.so)\n");
    return false;
  }
  return true;
}

bool loopback_ice(const char *mode, const std::string &ws_url) {
  if (g_strcmp0(mode, "on") == 0 || g_strcmp0(mode, "yes") == 0) return true;
  if (g_strcmp0(mode, "off") == 0 || g_strcmp0(mode, "no") == 0) return false;
  g_autoptr(GUri) uri = g_uri_parse(ws_url.c_str(), G_URI_FLAGS_NONE, nullptr);
  if (!uri || !g_uri_get_host(uri)) return false;
  std::string host = g_uri_get_host(uri);
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]";
}

std::string http_base(const std::string &ws_url) {
  std::string s = ws_url;
  if (s.rfind("wss://", 0) == 0)
    s = "https://" + s.substr(6);
  else if (s.rfind("ws://", 0) == 0)
    s = "http://" + s.substr(5);
  if (s.size() >= 3 && s.compare(s.size() - 3, 3, "/ws") == 0) s.resize(s.size() - 2);
  if (s.empty() || s.back() != '/') s += '/';
  return s;
}

std::string describe_error(GstMessage *msg, bool verbose) {
  g_autoptr(GError) err = nullptr;
  g_autofree char *dbg = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &err, &dbg);
  else
    gst_message_parse_warning(msg, &err, &dbg);
  std::string s = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " +
                  (err ? err->message : "unknown error");
  if (verbose && dbg) s += std::string(" (") + dbg + ")";
  return s;
}

bool have_display() {
  for (const char *var : {"DISPLAY", "WAYLAND_DISPLAY"}) {
    const char *v = g_getenv(var);
    if (v && *v) return true;
  }
  return false;
}

std::string json_line(JsonBuilder *builder) {
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, nullptr);
  return text;
}

} // namespace roomcast::app
