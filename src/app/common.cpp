#include "app.h"

#include "early-types.h"
#include "roomcast-config.h"
#include "tls-pin.h"
#include "token.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <set>

namespace roomcast::app {

namespace {
struct ServerOptionStorage {
  gint64 max_message_size;
  int max_rooms, max_peers, max_connections, max_burst, ping_interval, ping_timeout;
  double max_rate;
  char *web_root;
  char *turn_secret;
  int turn_ttl;
  int per_address_connections, per_address_rooms, per_address_peers;
  gboolean limit_loopback;
  int per_token_joins;
};
} // namespace

bool read_secret(const char *option, const char *source, std::string &secret, GError **error) {
  std::string text;
  if (g_str_has_prefix(source, "env:")) {
    const char *name = source + 4;
    const char *value = *name ? g_getenv(name) : nullptr;
    if (!value) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "%s: the environment variable '%s' is not set", option, name);
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
                  "%s: %s (give a file, file:PATH, or env:VARIABLE)", option, err->message);
      return false;
    }
    text = contents;
  }
  // A file's (or a variable's) trailing newline and spaces are not part of the secret.
  while (!text.empty() && g_ascii_isspace(text.back()))
    text.pop_back();
  if (text.empty()) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: it is empty", option);
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
                                     static_cast<int>(opts.ice.ttl_s),
                                     static_cast<int>(opts.max_connections_per_address),
                                     static_cast<int>(opts.max_rooms_per_address),
                                     static_cast<int>(opts.max_peers_per_address),
                                     opts.limit_loopback,
                                     static_cast<int>(opts.max_joins_per_token)};
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
      {"max-connections-per-address", 0, 0, G_OPTION_ARG_INT, nullptr,
       "Most WebSocket connections from one client address (64)", "N"},
      {"max-rooms-per-address", 0, 0, G_OPTION_ARG_INT, nullptr,
       "Most rooms opened from one client address at once (16)", "N"},
      {"max-peers-per-address", 0, 0, G_OPTION_ARG_INT, nullptr,
       "Most peers from one client address in one room (16)", "N"},
      {"limit-loopback", 0, 0, G_OPTION_ARG_NONE, nullptr,
       "Apply the per-address limits to clients on this machine too (a proxy here, tests)",
       nullptr},
      {"max-joins-per-token", 0, 0, G_OPTION_ARG_INT, nullptr,
       "Most peers in rooms with one room token at once (0: only the token's own max claim, "
       "roomcast token --max-joins; the default)",
       "N"},
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
  entries[11].arg_data = &st->per_address_connections;
  entries[12].arg_data = &st->per_address_rooms;
  entries[13].arg_data = &st->per_address_peers;
  entries[14].arg_data = &st->limit_loopback;
  entries[15].arg_data = &st->per_token_joins;
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
            s->ping_interval < 1 || s->ping_timeout <= s->ping_interval ||
            s->per_address_connections < 1 || s->per_address_rooms < 1 ||
            s->per_address_peers < 1) {
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
        h->opts->max_connections_per_address = s->per_address_connections;
        h->opts->max_rooms_per_address = s->per_address_rooms;
        h->opts->max_peers_per_address = s->per_address_peers;
        h->opts->limit_loopback = s->limit_loopback;
        if (s->per_token_joins < 0) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "--max-joins-per-token must be 0 (no limit) or more");
          return FALSE;
        }
        h->opts->max_joins_per_token = s->per_token_joins;
        if (s->web_root) h->opts->web_root = s->web_root;
        if (s->turn_ttl < 1) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "--turn-ttl must be positive");
          return FALSE;
        }
        h->opts->ice.ttl_s = s->turn_ttl;
        if (s->turn_secret &&
            !read_secret("--turn-secret", s->turn_secret, h->opts->ice.secret, error))
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
  g_print("roomcast %s: ICE servers for clients: %s\n", cmd, text.c_str());
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
    g_printerr("roomcast %s: %s\n", cmd, server_start_error(err, opts.port).c_str());
    return false;
  }
  ws_url = server->ws_url();
  return true;
}

void enable_verbose() {
  // Our own debug lines: the server's (GLib log domain "roomcast") and the elements' (GStreamer
  // categories roomcast*, at INFO). Never every domain's: libsoup alone writes a line per
  // WebSocket frame. What the user set already stays.
  const char *cur = g_getenv("G_MESSAGES_DEBUG");
  if (!cur || !*cur) g_setenv("G_MESSAGES_DEBUG", G_LOG_DOMAIN, TRUE);
  const char *gst = g_getenv("GST_DEBUG");
  if (!gst || !*gst) g_setenv("GST_DEBUG", "roomcast*:4", TRUE);
}

namespace {

struct SecurityStorage {
  char *tls_cert = nullptr, *tls_key = nullptr, *tls = nullptr;
  char *secret_file = nullptr, *require_token = nullptr;
  char **origins = nullptr, **hosts = nullptr;
  int http_timeout = 10;
  gboolean public_metrics = FALSE;
  gboolean no_room_list = FALSE;
  ~SecurityStorage() {
    for (char *p : {tls_cert, tls_key, tls, secret_file, require_token})
      g_free(p);
    g_strfreev(origins);
    g_strfreev(hosts);
  }
};

} // namespace

bool load_token_secret(const char *file, std::string &secret, GError **error) {
  secret.clear();
  if (file) {
    char *contents = nullptr;
    gsize len = 0;
    if (!g_file_get_contents(file, &contents, &len, error)) {
      g_prefix_error(error, "cannot read the token secret: ");
      return false;
    }
    secret.assign(contents, len);
    g_free(contents);
    if (!secret.empty() && secret.back() == '\n') secret.pop_back();
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    struct stat st {};
    if (stat(file, &st) == 0 && (st.st_mode & 077))
      g_printerr("roomcast: warning: the token secret %s can be read by other users (chmod 600 "
                 "it)\n",
                 file);
  } else if (const char *env = g_getenv("ROOMCAST_TOKEN_SECRET")) {
    secret = env;
  }
  if (!secret.empty() && secret.size() < token::kMinSecret) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "the token secret is %zu bytes; use at least %zu (for example: head -c 32 "
                "/dev/urandom | base64 > secret)",
                secret.size(), token::kMinSecret);
    return false;
  }
  return true;
}

GOptionGroup *server_security_group(ServerOptions &opts) {
  auto *st = new SecurityStorage;
  st->http_timeout = static_cast<int>(opts.http_timeout_s);
  GOptionEntry entries[] = {
      {"tls-cert", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_FILENAME, &st->tls_cert,
       "Serve https and wss with this certificate (PEM, with its chain)", "FILE"},
      {"tls-key", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_FILENAME, &st->tls_key,
       "The private key of --tls-cert (PEM)", "FILE"},
      {"tls", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_STRING, &st->tls,
       "self-signed: make a certificate at start and print its fingerprint (LAN use); off", "MODE"},
      {"token-secret-file", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_FILENAME, &st->secret_file,
       "Room-token secret (else $ROOMCAST_TOKEN_SECRET); hosts and members then need a token",
       "FILE"},
      {"require-token", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_STRING, &st->require_token,
       "Who needs a room token: none, host (hosts and members; the default with a secret) or all",
       "WHO"},
      {"allowed-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &st->origins,
       "A web origin (https://HOST[:PORT]) whose pages may connect too; repeatable; * for any",
       "ORIGIN"},
      {"allowed-host", 0, 0, G_OPTION_ARG_STRING_ARRAY, &st->hosts,
       "A host name requests may name besides IP addresses, localhost and this machine's own "
       "names; repeatable; * for any",
       "NAME"},
      {"http-timeout", 0, 0, G_OPTION_ARG_INT, &st->http_timeout,
       "Close a connection that has not become a WebSocket after this long (10)", "S"},
      {"public-metrics", 0, 0, G_OPTION_ARG_NONE, &st->public_metrics,
       "Answer /metrics for every client, not only loopback ones", nullptr},
      {"no-room-list", 0, 0, G_OPTION_ARG_NONE, &st->no_room_list,
       "List no rooms on the start page (GET /rooms answers an empty list)", nullptr},
      {nullptr}};
  struct Hook {
    ServerOptions *opts;
    SecurityStorage *st;
  };
  auto *hook = new Hook{&opts, st};
  GOptionGroup *group =
      g_option_group_new("security", "Signalling server security (TLS, room tokens, browsers):",
                         "Show the signalling server's security options", hook, [](gpointer p) {
                           auto *h = static_cast<Hook *>(p);
                           delete h->st;
                           delete h;
                         });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext *, GOptionGroup *, gpointer p, GError **error) -> gboolean {
        auto *h = static_cast<Hook *>(p);
        auto *s = h->st;
        ServerOptions &o = *h->opts;
        if (s->tls_cert) o.tls_cert_file = s->tls_cert;
        if (s->tls_key) o.tls_key_file = s->tls_key;
        if (s->tls) {
          if (!strcmp(s->tls, "self-signed"))
            o.tls_self_signed = true;
          else if (strcmp(s->tls, "off") != 0) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--tls must be self-signed or off");
            return FALSE;
          }
        }
        if (!load_token_secret(s->secret_file, o.token_secret, error)) return FALSE;
        if (s->require_token) {
          auto policy = rules::token_policy_from_string(s->require_token);
          if (!policy) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--require-token must be none, host or all");
            return FALSE;
          }
          o.require_token = policy;
        }
        for (char **v = s->origins; v && *v; v++)
          o.allowed_origins.emplace_back(*v);
        for (char **v = s->hosts; v && *v; v++)
          o.allowed_hosts.emplace_back(*v);
        if (s->http_timeout < 1) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "--http-timeout must be at least 1");
          return FALSE;
        }
        o.http_timeout_s = static_cast<unsigned>(s->http_timeout);
        o.public_metrics = s->public_metrics;
        o.list_rooms = !s->no_room_list;
        return TRUE;
      });
  return group;
}

GOptionGroup *client_option_group(ClientOptions &opts) {
  struct Storage {
    char *ca = nullptr, *pin = nullptr, *token = nullptr;
    ClientOptions *opts;
  };
  auto *st = new Storage{nullptr, nullptr, nullptr, &opts};
  GOptionEntry entries[] = {
      {"tls-ca", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_FILENAME, &st->ca,
       "wss:// servers: trust certificates of these authorities (PEM) instead of the system's",
       "FILE"},
      {"tls-pin", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_STRING, &st->pin,
       "wss:// servers: take only the certificate with this SHA-256 fingerprint (as roomcast "
       "serve prints it)",
       "SHA256"},
      {"token", 0, G_OPTION_FLAG_IN_MAIN, G_OPTION_ARG_STRING, &st->token,
       "Room token for servers that require one (else $ROOMCAST_TOKEN)", "TOKEN"},
      {nullptr}};
  GOptionGroup *group = g_option_group_new(
      "client", "Connecting to a secured server:", "Show the options for secured servers", st,
      [](gpointer p) {
        auto *s = static_cast<Storage *>(p);
        g_free(s->ca);
        g_free(s->pin);
        g_free(s->token);
        delete s;
      });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext *, GOptionGroup *, gpointer p, GError **error) -> gboolean {
        auto *s = static_cast<Storage *>(p);
        if (s->ca) s->opts->tls_ca = s->ca;
        if (s->pin) {
          auto pin = tls::normalize_pin(s->pin);
          if (!pin) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "--tls-pin must be a SHA-256 fingerprint: 64 hex digits, colons allowed");
            return FALSE;
          }
          s->opts->tls_pin = *pin;
        }
        if (s->token)
          s->opts->token = s->token;
        else if (const char *env = g_getenv("ROOMCAST_TOKEN"))
          s->opts->token = env;
        if (!proto::valid_token_text(s->opts->token)) {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                      "the token must be printable ASCII of at most %zu characters",
                      proto::kMaxToken);
          return FALSE;
        }
        return TRUE;
      });
  return group;
}

bool apply_client_options(const char *cmd, GstElement *element, const ClientOptions &opts,
                          const ServerOptions &sopts, const Server *embedded,
                          const std::string &room, const char *role) {
  std::string ca = opts.tls_ca, pin = opts.tls_pin, token = opts.token;
  if (embedded) {
    // Our own server: trust exactly its certificate, and sign our own token.
    ca.clear();
    pin = embedded->tls_fingerprint();
    auto r = proto::role_from_string(role);
    if (!sopts.token_secret.empty() && r) {
      const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
      // It never leaves the process; it must outlast any rejoin of a long run.
      token = token::sign({room, *r, now, now + 3650L * 86400}, sopts.token_secret);
    }
  }
  if ((!opts.tls_ca.empty() || !opts.tls_pin.empty()) && !embedded) {
    gchar *uri = nullptr;
    gst_child_proxy_get(GST_CHILD_PROXY(element), "signaller::uri", &uri, nullptr);
    if (uri && !g_str_has_prefix(uri, "wss://"))
      g_printerr("roomcast %s: warning: --tls-ca and --tls-pin apply to wss:// servers only, not "
                 "%s\n",
                 cmd, uri);
    g_free(uri);
  }
  struct Prop {
    const char *name;
    const std::string &value;
  };
  for (const Prop &prop : {Prop{"signaller::tls-ca-file", ca}, Prop{"signaller::tls-pin", pin},
                           Prop{"signaller::token", token}}) {
    if (prop.value.empty()) continue;
    GObject *target = nullptr;
    GParamSpec *pspec = nullptr;
    if (!gst_child_proxy_lookup(GST_CHILD_PROXY(element), prop.name, &target, &pspec)) {
      g_printerr("roomcast %s: %s's signaller has no %s property\n", cmd, GST_OBJECT_NAME(element),
                 prop.name + 11);
      return false;
    }
    g_object_unref(target);
    gst_child_proxy_set(GST_CHILD_PROXY(element), prop.name, prop.value.c_str(), nullptr);
  }
  return true;
}

std::string invite_token(const ServerOptions &sopts, const Server &server, const std::string &room,
                         proto::Role role) {
  const auto policy = server.token_policy();
  const bool needed = policy == rules::TokenPolicy::All ||
                      (policy == rules::TokenPolicy::Host && role != proto::Role::Viewer);
  if (!needed || sopts.token_secret.empty()) return {};
  const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  return token::sign({room, role, now, now + 12 * 3600}, sopts.token_secret);
}

void print_server_security(const char *cmd, const Server &server) {
  std::string fp = server.tls_fingerprint();
  if (!fp.empty())
    g_print("roomcast %s: TLS certificate SHA-256 fingerprint %s\n", cmd, fp.c_str());
  switch (server.token_policy()) {
  case rules::TokenPolicy::None:
    break;
  case rules::TokenPolicy::Host:
    g_print("roomcast %s: room tokens required to host or meet (roomcast token)\n", cmd);
    break;
  case rules::TokenPolicy::All:
    g_print("roomcast %s: room tokens required to join (roomcast token)\n", cmd);
    break;
  }
}

bool parse_options(GOptionContext *ctx, int &argc, char **&argv) {
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    g_printerr("%s: %s (see %s --help)\n", g_get_prgname(), err->message, g_get_prgname());
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

bool config_file_args(const char *cmd, const std::vector<ConfigKey> &keys, int &argc, char **&argv,
                      std::vector<std::string> &storage, std::vector<char *> &args) {
  // What the command line gives (GOption has not run yet): --name, --name=value, -x.
  std::string file;
  std::set<std::string> given;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (name == "config") {
        if (eq != std::string::npos)
          file = a.substr(eq + 1);
        else if (i + 1 < argc)
          file = argv[++i];
      }
      given.insert(name);
    } else if (a.size() > 1 && a[0] == '-') {
      for (char c : a.substr(1))
        for (const auto &k : keys)
          if (k.short_name && k.short_name == c) given.insert(k.name);
    }
  }
  if (file.empty()) return true;

  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, file.c_str(), G_KEY_FILE_NONE, &err)) {
    g_printerr("roomcast %s: --config %s: %s\n", cmd, file.c_str(), err->message);
    return false;
  }
  if (!g_key_file_has_group(kf, cmd)) {
    g_printerr("roomcast %s: --config %s: no [%s] group\n", cmd, file.c_str(), cmd);
    return false;
  }
  g_auto(GStrv) names = g_key_file_get_keys(kf, cmd, nullptr, nullptr);
  std::vector<const ConfigKey *> found;
  for (char **n = names; n && *n; n++) {
    const ConfigKey *key = nullptr;
    for (const auto &k : keys)
      if (!strcmp(k.name, *n)) key = &k;
    if (!key) {
      g_printerr("roomcast %s: --config %s: unknown key '%s' in [%s] (the keys are the long "
                 "options of roomcast %s --help-all%s)\n",
                 cmd, file.c_str(), *n, cmd, cmd,
                 strstr(*n, "secret") ? "; a secret itself never goes in the file: name the file "
                                        "holding it, token-secret-file or turn-secret"
                                      : "");
      return false;
    }
    found.push_back(key);
  }
  g_autofree char *base = g_path_get_dirname(file.c_str());
  for (const ConfigKey *k : found) {
    if (given.count(k->name)) continue;
    const std::string opt = std::string("--") + k->name;
    switch (k->kind) {
    case ConfigKey::Flag: {
      const gboolean on = g_key_file_get_boolean(kf, cmd, k->name, &err);
      if (err) break;
      if (on) storage.push_back(opt);
      break;
    }
    case ConfigKey::List: {
      g_auto(GStrv) items = g_key_file_get_string_list(kf, cmd, k->name, nullptr, &err);
      for (char **v = items; v && *v; v++)
        storage.push_back(opt + "=" + *v);
      break;
    }
    case ConfigKey::Value:
    case ConfigKey::Path: {
      g_autofree char *v = g_key_file_get_string(kf, cmd, k->name, &err);
      if (!v) break;
      std::string value = v;
      if (k->kind == ConfigKey::Path && !g_str_has_prefix(v, "env:")) {
        const bool file_prefix = g_str_has_prefix(v, "file:");
        const char *path = file_prefix ? v + 5 : v;
        if (*path && !g_path_is_absolute(path)) {
          g_autofree char *full = g_build_filename(base, path, nullptr);
          value = std::string(file_prefix ? "file:" : "") + full;
        }
      }
      storage.push_back(opt + "=" + value);
      break;
    }
    }
    if (err) {
      g_printerr("roomcast %s: --config %s: %s\n", cmd, file.c_str(), err->message);
      return false;
    }
  }
  args.clear();
  args.push_back(argv[0]);
  for (auto &s : storage)
    args.push_back(s.data());
  for (int i = 1; i < argc; i++)
    args.push_back(argv[i]);
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  return true;
}

bool running_from_build_tree() {
  // The same file (device and inode) as the binary meson linked in the build tree, not merely a
  // path that looks alike: `meson install` copies the binary, so an installed (or DESTDIR-staged)
  // one is another file even while the build tree still exists, and a moved or symlinked build
  // tree still counts as itself. No /proc (not Linux): never the build tree.
  static const bool yes = [] {
    struct stat self {
    }, built{};
    return stat("/proc/self/exe", &self) == 0 && stat(ROOMCAST_BUILD_EXE, &built) == 0 &&
           self.st_dev == built.st_dev && self.st_ino == built.st_ino;
  }();
  return yes;
}

bool init_gstreamer(int &argc, char **&argv) {
  ensure_early_types(); // before any thread: see early-types.h
  g_log_set_handler("libnice", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE),
                    on_libnice_log, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!gst_init_check(&argc, &argv, &err)) {
    g_printerr("roomcast: cannot initialise GStreamer: %s\n", err ? err->message : "?");
    return false;
  }
  // GST_PLUGIN_PATH and GStreamer's own folders first; then the build tree's plugin (only for the
  // uninstalled binary) and the folder `meson install` put it in.
  const char *build_dir = running_from_build_tree() ? ROOMCAST_BUILD_PLUGIN_DIR : nullptr;
  for (const char *dir : {build_dir, ROOMCAST_INSTALLED_PLUGIN_DIR}) {
    g_autoptr(GstElementFactory) f = gst_element_factory_find("roomcastsink");
    if (f) return true;
    if (dir && g_file_test(dir, G_FILE_TEST_IS_DIR))
      gst_registry_scan_path(gst_registry_get(), dir);
  }
  g_autoptr(GstElementFactory) f = gst_element_factory_find("roomcastsink");
  if (!f) {
    g_printerr("roomcast: the roomcast GStreamer plugin was not found in GStreamer's folders or "
               "%s (set GST_PLUGIN_PATH to the folder holding libgstroomcast.so)\n",
               ROOMCAST_INSTALLED_PLUGIN_DIR);
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
  // A roomcast element speaks for the command itself: its name ("roomcast") would only double
  // the prefix ("roomcast live: roomcast: ..."). Other elements are named.
  GstObject *src = GST_MESSAGE_SRC(msg);
  GstElementFactory *f = GST_IS_ELEMENT(src) ? gst_element_get_factory(GST_ELEMENT(src)) : nullptr;
  const bool ours = f && g_str_has_prefix(GST_OBJECT_NAME(f), "roomcast");
  std::string s = ours ? std::string() : std::string(GST_OBJECT_NAME(src)) + ": ";
  s += err ? err->message : "unknown error";
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

namespace {
bool same_file(const char *a, const char *b) {
  struct stat sa {
  }, sb{};
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
} // namespace

std::string self_command() {
  g_autofree char *on_path = g_find_program_in_path("roomcast");
  if (on_path && same_file(on_path, "/proc/self/exe")) return "roomcast";
  g_autofree char *exe = g_file_read_link("/proc/self/exe", nullptr);
  return exe ? shell_word(exe) : "roomcast";
}

std::string shell_word(const std::string &s) {
  const bool plain =
      !s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                        "rstuvwxyz0123456789_-./:@%+=,") == std::string::npos;
  if (plain) return s;
  g_autofree char *quoted = g_shell_quote(s.c_str());
  return quoted;
}

bool every_interface(const std::string &host) {
  return host == "0.0.0.0" || host == "::";
}

std::vector<std::string> reachable_hosts(const std::string &host) {
  if (!every_interface(host)) return {host};
  const bool v6 = host == "::";
  std::vector<std::string> lan, loopback;
  struct ifaddrs *list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
      char text[INET6_ADDRSTRLEN] = "";
      const int family = i->ifa_addr->sa_family;
      if (family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in *>(i->ifa_addr)->sin_addr, text,
                  sizeof text);
      } else if (family == AF_INET6 && v6) {
        const in6_addr &a = reinterpret_cast<sockaddr_in6 *>(i->ifa_addr)->sin6_addr;
        if (IN6_IS_ADDR_LINKLOCAL(&a)) continue; // needs a zone (%eth0) no browser takes
        inet_ntop(AF_INET6, &a, text, sizeof text);
      } else {
        continue;
      }
      auto &to = (i->ifa_flags & IFF_LOOPBACK) ? loopback : lan;
      if (std::find(to.begin(), to.end(), text) == to.end()) to.emplace_back(text);
    }
    freeifaddrs(list);
  }
  lan.insert(lan.end(), loopback.begin(), loopback.end());
  if (lan.empty()) lan.emplace_back(v6 ? "::1" : "127.0.0.1");
  return lan;
}

std::string with_host(const std::string &url, const std::string &host) {
  const auto start = url.find("://");
  if (start == std::string::npos) return url;
  const auto begin = start + 3;
  size_t end;
  if (url.compare(begin, 1, "[") == 0)
    end = url.find(']', begin) + 1;
  else
    end = url.find_first_of(":/", begin);
  if (end == std::string::npos || end == 0) return url;
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return url.substr(0, begin) + h + url.substr(end);
}

std::string server_start_error(const GError *err, unsigned port) {
  std::string text = err->message;
  if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
    text += " (port " + std::to_string(port) +
            " is in use, by another roomcast perhaps: choose another with --port, or --port 0 for "
            "a free one)";
  return text;
}

} // namespace roomcast::app
