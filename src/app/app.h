// Shared pieces of the roomcast command-line app.
#pragma once

#include <glib.h>

#include "server.h"

namespace roomcast::app {

int cmd_serve(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_watch(int argc, char **argv);

// Adds the embedded server's limits to a subcommand's options (serve uses them all).
GOptionGroup *server_option_group(ServerOptions &opts);
// Sends SIGINT/SIGTERM to `loop` (quits it); returns the two source ids to remove.
void quit_on_signals(GMainLoop *loop);
// Turns on debug output for our domains (--verbose).
void enable_verbose();
bool parse_options(GOptionContext *ctx, int &argc, char **&argv);

} // namespace roomcast::app
