// roomcast serve: the signalling server and web client on their own.
#include "app.h"
#include "runner.h"

#include <cstdio>

namespace roomcast::app {

namespace {
// Every option of `serve` is a key of --config's [serve] group, named as the option (README,
// "Config file"). A new option needs its line here; test_install's key test compares this with
// --help-all.
const std::vector<ConfigKey> kServeKeys = {
    {"host", ConfigKey::Value, 0},
    {"port", ConfigKey::Value, 'p'},
    {"stun", ConfigKey::Value, 0},
    {"turn", ConfigKey::List, 0},
    {"sfu", ConfigKey::List, 0},
    {"verbose", ConfigKey::Flag, 'v'},
    // server_option_group
    {"max-message-size", ConfigKey::Value, 0},
    {"max-rooms", ConfigKey::Value, 0},
    {"max-peers", ConfigKey::Value, 0},
    {"max-connections", ConfigKey::Value, 0},
    {"max-rate", ConfigKey::Value, 0},
    {"max-burst", ConfigKey::Value, 0},
    {"ping-interval", ConfigKey::Value, 0},
    {"ping-timeout", ConfigKey::Value, 0},
    {"web-root", ConfigKey::Path, 0},
    {"turn-secret", ConfigKey::Path, 0},
    {"turn-ttl", ConfigKey::Value, 0},
    {"max-connections-per-address", ConfigKey::Value, 0},
    {"max-rooms-per-address", ConfigKey::Value, 0},
    {"max-peers-per-address", ConfigKey::Value, 0},
    {"limit-loopback", ConfigKey::Flag, 0},
    {"max-joins-per-token", ConfigKey::Value, 0},
    // server_security_group
    {"tls-cert", ConfigKey::Path, 0},
    {"tls-key", ConfigKey::Path, 0},
    {"tls", ConfigKey::Value, 0},
    {"token-secret-file", ConfigKey::Path, 0},
    {"require-token", ConfigKey::Value, 0},
    {"allowed-origin", ConfigKey::List, 0},
    {"allowed-host", ConfigKey::List, 0},
    {"http-timeout", ConfigKey::Value, 0},
    {"public-metrics", ConfigKey::Flag, 0},
    {"no-room-list", ConfigKey::Flag, 0},
};
} // namespace

int cmd_serve(int argc, char **argv) {
  // --config FILE: its options go before the command line's (which win).
  std::vector<std::string> config_storage;
  std::vector<char *> config_argv;
  if (!config_file_args("serve", kServeKeys, argc, argv, config_storage, config_argv)) return 2;
  g_autofree char *config = nullptr;
  ServerOptions opts;
  g_autofree char *host = g_strdup(opts.host.c_str());
  int port = static_cast<int>(opts.port);
  gboolean verbose = FALSE;
  g_autofree char *stun = nullptr;
  g_auto(GStrv) turn = nullptr;
  g_auto(GStrv) sfu = nullptr;
  GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (127.0.0.1)", "ADDR"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &port, "Port to listen on; 0 picks a free one (8443)",
       "PORT"},
      {"stun", 0, 0, G_OPTION_ARG_STRING, &stun,
       "STUN server handed to every client (stun://HOST:PORT)", "URI"},
      {"turn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn,
       "TURN server handed to every client (turn(s)://USER:PASSWORD@HOST:PORT, or "
       "turn://HOST:PORT with --turn-secret); repeatable",
       "URI"},
      {"sfu", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sfu,
       "Serve live rooms' viewers through a Janus node's VideoRoom (janus=ws://HOST:8188, its "
       "WebSocket API); repeatable: viewers are spread over the nodes",
       "janus=URL"},
      {"config", 0, 0, G_OPTION_ARG_FILENAME, &config,
       "Read options from the [serve] group of this key file; the command line's win", "FILE"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Debug lines of the server too (joins, leaves and refusals are always logged)", nullptr},
      {nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- run the signalling server");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(ctx, exit_codes_help(HelpKind::serve));
  g_option_context_add_group(ctx, server_option_group(opts));
  g_option_context_add_group(ctx, server_security_group(opts));
  if (!parse_options(ctx, argc, argv)) return 2;
  if (port < 0 || port > 65535) {
    g_printerr("roomcast serve: --port must be 0-65535\n");
    return 2;
  }
  if (!parse_ice_options("serve", stun, turn, opts.ice) || !check_ice_setup("serve", opts.ice))
    return 2;
  for (char **u = sfu; u && *u; u++) {
    const char *url = g_str_has_prefix(*u, "janus=") ? *u + 6 : nullptr;
    g_autoptr(GUri) uri = url ? g_uri_parse(url, G_URI_FLAGS_NONE, nullptr) : nullptr;
    if (!uri ||
        (g_strcmp0(g_uri_get_scheme(uri), "ws") != 0 &&
         g_strcmp0(g_uri_get_scheme(uri), "wss") != 0) ||
        !g_uri_get_host(uri) || !*g_uri_get_host(uri)) {
      g_printerr("roomcast serve: --sfu wants janus=ws://HOST:PORT (a Janus node's WebSocket "
                 "API), not '%s'\n",
                 *u);
      return 2;
    }
    opts.sfu_janus.push_back(url);
  }
  if (verbose) enable_verbose();
  opts.host = host;
  opts.port = static_cast<unsigned>(port);

  Server server(opts);
  Runner runner("serve", verbose);
  g_autoptr(GError) err = nullptr;
  if (!server.start(&err)) {
    g_printerr("roomcast serve: %s\n", server_start_error(err, opts.port).c_str());
    return 1;
  }
  // On every interface: a URL per address (others on the LAN need one that is not loopback).
  printf("roomcast serve: listening on %s%s\n", server.ws_url().c_str(),
         every_interface(opts.host) ? " (and every interface's address)" : "");
  for (const auto &h : reachable_hosts(opts.host))
    printf("roomcast serve: web client at %s\n", with_host(server.http_url(), h).c_str());
  print_ice_setup("serve", opts.ice);
  print_server_security("serve", server);
  for (const auto &u : opts.sfu_janus)
    printf("roomcast serve: live rooms' viewers go through the Janus node at %s\n", u.c_str());
  fflush(stdout);
  runner.run();
  server.stop();
  printf("roomcast serve: stopped\n");
  return runner.exit_code();
}

} // namespace roomcast::app
