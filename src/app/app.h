// Shared pieces of the roomcast command-line app.
#pragma once

#include <glib.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>

#include <memory>
#include <string>
#include <vector>

#include "json-text.h"
#include "server.h"

namespace roomcast::app {

int cmd_serve(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_meet(int argc, char **argv);
int cmd_token(int argc, char **argv);

// The media side of `live` and `meet` (media.cpp).
struct MediaOptions {
  const char *cmd;      // for messages
  std::string source;   // "screen" or "test"
  const char *pipeline; // --pipeline, or nullptr
  int width, height, fps;
  bool audio;
};
bool check_media_options(const char *cmd, const std::string &codec, int fps, int bitrate,
                         const char *size, const char *source_arg, std::string &source, int &width,
                         int &height);
// Parses the source pipeline; returns it and its roomcastsink (both plain refs, not floating), or
// nullptr after printing why.
GstElement *build_media_pipeline(const MediaOptions &m, GstElement **sink);
// Prints a pipeline error for `cmd`, explaining a screen that cannot be captured.
void report_pipeline_error(const char *cmd, GstMessage *msg, bool verbose);
// Points a roomcastsink's or roomcastsrc's signaller at the server, through the element's
// `signaller::uri` child property only (whatever the signaller's type). False after printing why.
bool set_signaller_uri(const char *cmd, GstElement *element, const std::string &uri);

// Adds the embedded server's limits to a subcommand's options (serve uses them all), and its
// --turn-secret (read at parsing into opts.ice.secret) and --turn-ttl.
GOptionGroup *server_option_group(ServerOptions &opts);
// A secret (--turn-secret, --whip-token) from SOURCE: a file (or file:PATH), or env:VARIABLE (the
// variable is removed from the environment once read). Trailing white space is dropped; errors
// name `option`.
bool read_secret(const char *option, const char *source, std::string &secret, GError **error);

// ICE servers on the command line: --stun URI and --turn URI (repeatable), in GStreamer's form
// (stun://HOST:PORT, turn(s)://USER:PASSWORD@HOST:PORT[?transport=tcp]) or RFC 7064/7065's
// (stun:HOST:PORT, turn:HOST:PORT). Appended to `out`; false after printing why.
bool parse_ice_options(const char *cmd, const char *stun, char **turn, ice::ServerSetup &out);
// Prints the ICE servers a server hands out (never the secret or passwords) on stdout.
void print_ice_setup(const char *cmd, const ice::ServerSetup &setup);
// ice::check_setup, printing why it fails.
bool check_ice_setup(const char *cmd, const ice::ServerSetup &setup);
// Sets a roomcastsink's or roomcastsrc's own STUN and TURN servers (its `stun-server` and
// `turn-server` properties: they win over the room's, see docs/architecture.md). TURN URIs need
// their credentials; a secret is refused (it is a server's). False after printing why.
bool set_element_ice(const char *cmd, GstElement *element, const ice::ServerSetup &setup);
// The server's security options (TLS, room tokens, browsers' origins and hosts): serve, live and
// meet (their embedded server).
GOptionGroup *server_security_group(ServerOptions &opts);
// Reads the room-token secret: the bytes of `file` (one trailing newline dropped) when given,
// else $ROOMCAST_TOKEN_SECRET; empty when neither is there. Never from the command line: argv is
// visible to every user of the machine.
bool load_token_secret(const char *file, std::string &secret, GError **error);

// What a client needs for a secured server: --tls-ca, --tls-pin, --token (live, watch, meet).
struct ClientOptions {
  std::string tls_ca, tls_pin, token;
};
GOptionGroup *client_option_group(ClientOptions &opts);
// Gives the element's signaller the client options (signaller::tls-ca-file, ::tls-pin, ::token).
// With an embedded server, its own certificate is pinned and, when it needs one, a token for
// `role` is signed with its secret. False after printing why.
bool apply_client_options(const char *cmd, GstElement *element, const ClientOptions &opts,
                          const ServerOptions &sopts, const Server *embedded,
                          const std::string &room, const char *role);
// For the lines `live` and `meet` print: a token for `role` in `room` (12 h) when the embedded
// server needs one for that role, else empty.
std::string invite_token(const ServerOptions &sopts, const Server &server, const std::string &room,
                         proto::Role role);
// Printed after a server's URLs: its certificate's fingerprint (TLS) and who needs tokens.
void print_server_security(const char *cmd, const Server &server);
// `--server URL` when given; otherwise starts the embedded server (on the thread-default
// context) on host:port. Sets ws_url; false after printing why.
bool use_or_embed_server(const char *cmd, const char *server_arg, const char *host, int port,
                         ServerOptions &opts, std::unique_ptr<Server> &server, std::string &ws_url);
// Turns on debug output for our log domain only (--verbose): not libsoup's or GLib's, which
// G_MESSAGES_DEBUG and GST_DEBUG still give.
void enable_verbose();
bool parse_options(GOptionContext *ctx, int &argc, char **&argv);

// gst_init, then makes sure the roomcast elements can be found: GST_PLUGIN_PATH and GStreamer's
// folders, then the build tree's plugin (only when running_from_build_tree()), then the folder
// `meson install` uses.
bool init_gstreamer(int &argc, char **&argv);
// Whether this process is the uninstalled binary of the build tree (the very file meson linked).
// Only then are the build tree's plugin and the source tree's pipelines looked at.
bool running_from_build_tree();
// A key of a config file: named as the long option it stands for.
struct ConfigKey {
  const char *name;
  enum Kind {
    Value, // name = text: --name=text
    Path,  // a file or folder; relative to the config file's folder (env:VAR stays as it is)
    List,  // name = a;b;c: --name=a --name=b --name=c
    Flag,  // name = true|false: --name when true
  } kind;
  char short_name; // its one-letter option, or 0
};
// `roomcast CMD --config FILE`: the [CMD] group of a GKeyFile (README, "Config file") as options.
// Points argv at `args`: argv[0], the file's options, then the command line's own. A key whose
// option the command line gives too is left out (the command line wins, lists included); an
// unknown key is an error (a typo must not pass silently). `storage` owns the strings. Without
// --config argv stays as it is. False after printing why.
bool config_file_args(const char *cmd, const std::vector<ConfigKey> &keys, int &argc, char **&argv,
                      std::vector<std::string> &storage, std::vector<char *> &args);
// Whether ICE should add 127.0.0.1: "auto" means yes when the signalling host is loopback.
bool loopback_ice(const char *mode, const std::string &ws_url);
// http://HOST:PORT/ for a ws://HOST:PORT/ws signalling URL.
std::string http_base(const std::string &ws_url);
// The text of a bus error, with its debug string when verbose.
std::string describe_error(GstMessage *msg, bool verbose);
// Whether a window can be shown (DISPLAY or WAYLAND_DISPLAY is set). Without one,
// autovideosink may pick a console sink (DirectFB) that crashes.
bool have_display();
// The command to print for running this program again (the `roomcast watch ...` line live
// prints): "roomcast" when that name on PATH is this very file (an installed binary), else the
// real path of /proc/self/exe (the build tree's binary, which `roomcast` does not name).
std::string self_command();
// A word as a POSIX shell reads it back: as it is when plain, else single-quoted.
std::string shell_word(const std::string &s);
// Whether a server address listens on every interface (0.0.0.0 or ::).
bool every_interface(const std::string &host);
// The addresses others reach a server at that listens on `host`: for 0.0.0.0 every up
// interface's IPv4 address (for :: its IPv6 ones too, link-local ones left out), LAN ones
// first and loopback last; for any other host just that host.
std::vector<std::string> reachable_hosts(const std::string &host);
// `url` (scheme://HOST:PORT/...) with its host replaced (an IPv6 address in brackets).
std::string with_host(const std::string &url, const std::string &host);
// Server::start's error as a line, with a hint when the port is in use.
std::string server_start_error(const GError *err, unsigned port);

} // namespace roomcast::app
