// A host's numbers as Prometheus text (`roomcast live`): viewers, bitrate sent, encoder fps,
// per-viewer RTT and loss, read from its roomcastsink's `stats`. They go to the embedded
// server's /metrics, and with --metrics [HOST:]PORT to a listener of their own (any mode).
//
// Threading: everything here runs on the thread-default main context of the thread that made
// it (the command's main loop): the stats are sampled there once a second (the sink's `stats`
// property copies what its worker polled; no webrtcbin thread waits on us), and the listener is
// a libsoup server of that context.
#pragma once

#include "server.h"

#include <glib.h>
#include <gst/gst.h>

#include <memory>
#include <string>

namespace roomcast::app {

// Options of a host (`live`) around its roomcastsink: --metrics, --negotiation-timeout and
// --max-viewers.
struct HostOptions {
  char *metrics = nullptr;      // [HOST:]PORT, or nullptr
  int negotiation_timeout = 15; // seconds; the sink's negotiation-timeout
  int max_viewers = 0;          // the sink's max-peers (0: its default)
  ~HostOptions() { g_free(metrics); }
};
GOptionGroup *host_option_group(HostOptions &opts);
// Sets the sink's properties from the options; false after printing why.
bool apply_host_options(const char *cmd, GstElement *sink, const HostOptions &opts);

// `[HOST:]PORT` ("9100", "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100"): the host (default
// 127.0.0.1) and the port (0 picks one). False when it is not that.
bool parse_listen_address(const std::string &spec, std::string &host, unsigned &port);
// Whether a /metrics request may be answered, by its Host header: only a request addressed to an
// IP address or localhost (what a scraper uses), never to another name, so a web page cannot read
// the numbers through DNS rebinding.
bool metrics_host_allowed(const char *host_header);

class HostMetrics {
public:
  // Holds a ref on the sink and samples its stats once a second from now on.
  explicit HostMetrics(GstElement *sink);
  ~HostMetrics();
  HostMetrics(const HostMetrics &) = delete;
  HostMetrics &operator=(const HostMetrics &) = delete;

  // The roomcast_host_* families (HELP, TYPE and samples) from the latest sample.
  std::string text() const;
  // Serves /metrics on host:port; false with `error` set when it cannot listen.
  bool listen(const std::string &host, unsigned port, GError **error);
  // Appends text() to the server's /metrics until this is destroyed (the server must outlive it).
  void add_to(Server &server);
  // http://HOST:PORT/metrics of the listener (empty without one).
  std::string url() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

// For `live`: the host's metrics on the embedded server's /metrics (when there is one) and on
// the --metrics listener (when asked for; its URL is printed). False after printing why.
bool start_host_metrics(const char *cmd, GstElement *sink, const HostOptions &opts, Server *server,
                        std::unique_ptr<HostMetrics> &out);

} // namespace roomcast::app
