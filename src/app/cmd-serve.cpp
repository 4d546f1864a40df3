// roomcast serve: the signalling server and web client on their own.
#include "app.h"
#include "runner.h"

#include <cstdio>

namespace roomcast::app {

int cmd_serve(int argc, char **argv) {
  ServerOptions opts;
  g_autofree char *host = g_strdup(opts.host.c_str());
  int port = static_cast<int>(opts.port);
  gboolean verbose = FALSE;
  g_autofree char *stun = nullptr;
  g_auto(GStrv) turn = nullptr;
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
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Debug lines of the server too (joins, leaves and refusals are always logged)", nullptr},
      {nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- run the signalling server");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(ctx, exit_codes_help(false));
  g_option_context_add_group(ctx, server_option_group(opts));
  g_option_context_add_group(ctx, server_security_group(opts));
  if (!parse_options(ctx, argc, argv)) return 2;
  if (port < 0 || port > 65535) {
    g_printerr("roomcast serve: --port must be 0-65535\n");
    return 2;
  }
  if (!parse_ice_options("serve", stun, turn, opts.ice) || !check_ice_setup("serve", opts.ice))
    return 2;
  if (verbose) enable_verbose();
  opts.host = host;
  opts.port = static_cast<unsigned>(port);

  Server server(opts);
  Runner runner("serve", verbose);
  g_autoptr(GError) err = nullptr;
  if (!server.start(&err)) {
    g_printerr("roomcast serve: %s\n", err->message);
    return 1;
  }
  printf("roomcast serve: listening on %s\n", server.ws_url().c_str());
  printf("roomcast serve: web client at %s\n", server.http_url().c_str());
  print_ice_setup("serve", opts.ice);
  print_server_security("serve", server);
  fflush(stdout);
  runner.run();
  server.stop();
  printf("roomcast serve: stopped\n");
  return runner.exit_code();
}

} // namespace roomcast::app
