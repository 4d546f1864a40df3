// Shared pieces of the roomcast command-line app.
#pragma once

#include <glib.h>
#include <gst/gst.h>

#include <string>

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

// gst_init, then makes sure the roomcast elements can be found (build tree or installed).
bool init_gstreamer(int &argc, char **&argv);
// Whether ICE should add 127.0.0.1: "auto" means yes when the signalling host is loopback.
bool loopback_ice(const char *mode, const std::string &ws_url);
// http://HOST:PORT/ for a ws://HOST:PORT/ws signalling URL.
std::string http_base(const std::string &ws_url);
// The text of a bus error, with its debug string when verbose.
std::string describe_error(GstMessage *msg, bool verbose);

} // namespace roomcast::app
