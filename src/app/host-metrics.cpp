#include "host-metrics.h"

#include "gref.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace roomcast::app {

namespace {

// One viewer's numbers from the sink's `stats` (its `peers` list).
struct Viewer {
  std::string id;
  bool connected = false;
  double bitrate = 0, rtt = 0, fraction_lost = 0;
  guint64 bytes_sent = 0, nacks = 0, plis = 0, retransmitted = 0;
  gint64 packets_lost = 0;
};

struct Sample {
  guint peers = 0;
  double bitrate = 0, fps = 0;
  guint64 frames = 0, keyframes_forwarded = 0, keyframes_coalesced = 0;
  std::vector<Viewer> viewers;
  // A ladder: per layer, top first, the frames its encoder made and the viewers holding it.
  std::vector<guint64> layer_frames;
  std::vector<int> layer_viewers;
};

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string label(const std::string &v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return g_ascii_formatd(buf, sizeof buf, "%.9g", v);
}

} // namespace

struct HostMetrics::Impl {
  GstElement *sink = nullptr; // ref
  guint timer = 0;
  Sample last;
  gint64 last_us = 0;
  GRef<SoupServer> soup;
  std::string url;
  Server *server = nullptr; // whose /metrics carries ours (cleared in the destructor)

  void sample() {
    GstStructure *stats = nullptr;
    g_object_get(sink, "stats", &stats, nullptr);
    if (!stats) return;
    Sample s;
    gst_structure_get_uint(stats, "peer-count", &s.peers);
    gst_structure_get_double(stats, "bitrate", &s.bitrate);
    gst_structure_get_uint64(stats, "frames", &s.frames);
    gst_structure_get_uint64(stats, "keyframes-forwarded", &s.keyframes_forwarded);
    gst_structure_get_uint64(stats, "keyframes-coalesced", &s.keyframes_coalesced);
    if (const GValue *a = gst_structure_get_value(stats, "layer-frames");
        a && GST_VALUE_HOLDS_ARRAY(a))
      for (guint i = 0; i < gst_value_array_get_size(a); i++)
        s.layer_frames.push_back(g_value_get_uint64(gst_value_array_get_value(a, i)));
    if (const GValue *a = gst_structure_get_value(stats, "layer-viewers");
        a && GST_VALUE_HOLDS_ARRAY(a))
      for (guint i = 0; i < gst_value_array_get_size(a); i++)
        s.layer_viewers.push_back(g_value_get_int(gst_value_array_get_value(a, i)));
    if (const GValue *list = gst_structure_get_value(stats, "peers"))
      for (guint i = 0; i < gst_value_list_get_size(list); i++) {
        const GstStructure *p = gst_value_get_structure(gst_value_list_get_value(list, i));
        Viewer v;
        const char *id = gst_structure_get_string(p, "id");
        v.id = id ? id : "";
        gboolean c = FALSE;
        gst_structure_get_boolean(p, "connected", &c);
        v.connected = c;
        gst_structure_get_double(p, "bitrate", &v.bitrate);
        gst_structure_get_double(p, "rtt", &v.rtt);
        gst_structure_get_double(p, "fraction-lost", &v.fraction_lost);
        gst_structure_get_uint64(p, "bytes-sent", &v.bytes_sent);
        gst_structure_get_uint64(p, "nack-count", &v.nacks);
        gst_structure_get_uint64(p, "pli-count", &v.plis);
        gst_structure_get_uint64(p, "retransmitted", &v.retransmitted);
        gst_structure_get_int64(p, "packets-lost", &v.packets_lost);
        s.viewers.push_back(std::move(v));
      }
    gst_structure_free(stats);
    const gint64 now = g_get_monotonic_time();
    if (last_us && now > last_us && s.frames >= last.frames)
      s.fps = double(s.frames - last.frames) * G_USEC_PER_SEC / double(now - last_us);
    last = std::move(s);
    last_us = now;
  }

  static gboolean on_tick(gpointer data) {
    static_cast<Impl *>(data)->sample();
    return G_SOURCE_CONTINUE;
  }

  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer data) {
    auto *self = static_cast<Impl *>(data);
    SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                 "X-Content-Type-Options", "nosniff");
    auto text = [&](guint status, const std::string &body, const char *type) {
      soup_server_message_set_status(msg, status, nullptr);
      soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
    };
    if (!metrics_host_allowed(soup_message_headers_get_one(req, "Host"))) {
      text(SOUP_STATUS_MISDIRECTED_REQUEST, "Ask for /metrics by IP address or localhost.\n",
           "text/plain; charset=utf-8");
      return;
    }
    if (g_strcmp0(path, "/metrics") != 0) {
      text(SOUP_STATUS_NOT_FOUND, "Only /metrics here.\n", "text/plain; charset=utf-8");
      return;
    }
    const char *method = soup_server_message_get_method(msg);
    if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
      soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
      return;
    }
    text(SOUP_STATUS_OK, self->render(), "text/plain; version=0.0.4; charset=utf-8");
  }

  std::string render() const {
    std::string out;
    auto family = [&](const char *name, const char *type, const char *help) {
      out += std::string("# HELP roomcast_host_") + name + " " + help + "\n# TYPE roomcast_host_" +
             name + " " + type + "\n";
    };
    auto sample = [&](const char *name, const std::string &labels, const std::string &value) {
      out += std::string("roomcast_host_") + name + labels + " " + value + "\n";
    };
    const Sample &s = last;
    family("viewers", "gauge", "Viewers served now (connected or connecting).");
    sample("viewers", "", std::to_string(s.peers));
    guint connected = 0;
    for (const auto &v : s.viewers)
      connected += v.connected ? 1 : 0;
    family("viewers_connected", "gauge", "Viewers whose connection (ICE and DTLS) is up.");
    sample("viewers_connected", "", std::to_string(connected));
    family("sent_bits_per_second", "gauge", "Bitrate sent to all viewers together, bit/s.");
    sample("sent_bits_per_second", "", number(s.bitrate));
    family("encoder_fps", "gauge", "Video frames per second into the shared encoder's output.");
    sample("encoder_fps", "", number(s.fps));
    family("frames_total", "counter", "Video frames the shared encoder produced.");
    sample("frames_total", "", std::to_string(s.frames));
    family("keyframes_forwarded_total", "counter",
           "Keyframe requests passed on to the encoder (connects, viewers' PLI/FIR).");
    sample("keyframes_forwarded_total", "", std::to_string(s.keyframes_forwarded));
    family("keyframes_coalesced_total", "counter",
           "Keyframe requests merged into another (min-keyframe-interval).");
    sample("keyframes_coalesced_total", "", std::to_string(s.keyframes_coalesced));
    if (!s.layer_frames.empty()) {
      family("layer_frames_total", "counter",
             "A ladder's layer (0: full size): frames its encoder made. An encoder runs only "
             "while some viewer is sent its layer or is switching to it.");
      for (size_t i = 0; i < s.layer_frames.size(); i++)
        sample("layer_frames_total", "{layer=\"" + std::to_string(i) + "\"}",
               std::to_string(s.layer_frames[i]));
      family("layer_viewers", "gauge",
             "A ladder's layer: viewers sent it or switching to it (its encoder runs while > 0).");
      for (size_t i = 0; i < s.layer_viewers.size(); i++)
        sample("layer_viewers", "{layer=\"" + std::to_string(i) + "\"}",
               std::to_string(s.layer_viewers[i]));
    }

    // Summaries: RTT over viewers that reported one, loss over connected viewers.
    double rtt_max = 0, rtt_sum = 0, loss_max = 0, loss_sum = 0;
    unsigned with_rtt = 0;
    for (const auto &v : s.viewers) {
      if (v.rtt > 0) {
        rtt_max = std::max(rtt_max, v.rtt);
        rtt_sum += v.rtt;
        with_rtt++;
      }
      if (v.connected) {
        loss_max = std::max(loss_max, v.fraction_lost);
        loss_sum += v.fraction_lost;
      }
    }
    family("rtt_max_seconds", "gauge",
           "Largest round-trip time a viewer reported (RTCP), s; absent until one did.");
    if (with_rtt) sample("rtt_max_seconds", "", number(rtt_max));
    family("rtt_mean_seconds", "gauge",
           "Mean round-trip time over the viewers that reported one, s; absent until one did.");
    if (with_rtt) sample("rtt_mean_seconds", "", number(rtt_sum / with_rtt));
    family("fraction_lost_max", "gauge",
           "Largest fraction of packets lost a connected viewer reported (0-1).");
    sample("fraction_lost_max", "", number(loss_max));
    family("fraction_lost_mean", "gauge",
           "Mean fraction of packets lost over the connected viewers (0-1; 0 without any).");
    sample("fraction_lost_mean", "", number(connected ? loss_sum / connected : 0));

    // Per viewer, labelled by its peer id in the room.
    struct PerViewer {
      const char *name, *type, *help;
      std::string (*value)(const Viewer &);
      bool (*present)(const Viewer &);
    };
    auto always = [](const Viewer &) { return true; };
    const PerViewer series[] = {
        {"viewer_connected", "gauge", "1 when the viewer's connection is up, else 0.",
         [](const Viewer &v) { return std::string(v.connected ? "1" : "0"); }, always},
        {"viewer_sent_bits_per_second", "gauge", "Bitrate sent to the viewer, bit/s.",
         [](const Viewer &v) { return number(v.bitrate); }, always},
        {"viewer_sent_bytes_total", "counter", "Bytes sent to the viewer.",
         [](const Viewer &v) { return std::to_string(v.bytes_sent); }, always},
        {"viewer_rtt_seconds", "gauge",
         "Round-trip time to the viewer (its RTCP receiver reports), s; absent until known.",
         [](const Viewer &v) { return number(v.rtt); }, [](const Viewer &v) { return v.rtt > 0; }},
        {"viewer_fraction_lost", "gauge",
         "Fraction of packets the viewer last reported lost (0-1).",
         [](const Viewer &v) { return number(v.fraction_lost); }, always},
        {"viewer_packets_lost", "gauge",
         "Packets the viewer reported lost in all (RTCP's cumulative count; may go down).",
         [](const Viewer &v) { return std::to_string(v.packets_lost); }, always},
        {"viewer_nacks_total", "counter", "Retransmission requests (NACK) from the viewer.",
         [](const Viewer &v) { return std::to_string(v.nacks); }, always},
        {"viewer_plis_total", "counter", "Picture loss reports (PLI) from the viewer.",
         [](const Viewer &v) { return std::to_string(v.plis); }, always},
        {"viewer_retransmitted_total", "counter", "Packets sent to the viewer again (rtx).",
         [](const Viewer &v) { return std::to_string(v.retransmitted); }, always},
    };
    for (const auto &f : series) {
      family(f.name, f.type, f.help);
      for (const auto &v : s.viewers)
        if (f.present(v)) sample(f.name, "{peer=\"" + label(v.id) + "\"}", f.value(v));
    }
    return out;
  }
};

HostMetrics::HostMetrics(GstElement *sink) : impl_(std::make_unique<Impl>()) {
  impl_->sink = GST_ELEMENT(gst_object_ref(sink));
  impl_->sample();
  impl_->timer = g_timeout_add_seconds(1, Impl::on_tick, impl_.get());
}

HostMetrics::~HostMetrics() {
  if (impl_->server) impl_->server->set_extra_metrics(nullptr);
  if (impl_->timer) g_source_remove(impl_->timer);
  if (impl_->soup) soup_server_disconnect(impl_->soup.get());
  gst_object_unref(impl_->sink);
}

std::string HostMetrics::text() const {
  return impl_->render();
}

void HostMetrics::add_to(Server &server) {
  impl_->server = &server;
  server.set_extra_metrics([this]() { return text(); });
}

std::string HostMetrics::url() const {
  return impl_->url;
}

bool HostMetrics::listen(const std::string &host, unsigned port, GError **error) {
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(host.c_str());
  if (!addr) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not an IP address",
                host.c_str());
    return false;
  }
  auto soup = GRef<SoupServer>::adopt(soup_server_new("server-header", "roomcast", nullptr));
  soup_server_add_handler(soup.get(), nullptr, Impl::on_request, impl_.get(), nullptr);
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, port);
  if (!soup_server_listen(soup.get(), sa, SoupServerListenOptions(0), error)) return false;
  unsigned bound = port;
  if (GSList *l = soup_server_get_listeners(soup.get())) {
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(G_SOCKET(l->data), nullptr);
    if (local && G_IS_INET_SOCKET_ADDRESS(local))
      bound = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
    g_slist_free(l);
  }
  const bool v6 = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;
  std::string shown = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  impl_->url =
      "http://" + (v6 ? "[" + shown + "]" : shown) + ":" + std::to_string(bound) + "/metrics";
  impl_->soup = std::move(soup);
  return true;
}

bool parse_listen_address(const std::string &spec, std::string &host, unsigned &port) {
  std::string p = spec;
  host = "127.0.0.1";
  if (!spec.empty() && spec.front() == '[') {
    auto close = spec.find("]:");
    if (close == std::string::npos) return false;
    host = spec.substr(1, close - 1);
    p = spec.substr(close + 2);
  } else if (auto colon = spec.rfind(':'); colon != std::string::npos) {
    if (spec.find(':') != colon) return false; // a bare IPv6 address needs brackets
    host = spec.substr(0, colon);
    p = spec.substr(colon + 1);
  }
  if (p.empty() || p.size() > 5 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return g_ascii_isdigit(c); }))
    return false;
  const unsigned long n = std::stoul(p);
  if (n > 65535 || host.empty() || !g_hostname_is_ip_address(host.c_str())) return false;
  port = unsigned(n);
  return true;
}

bool metrics_host_allowed(const char *host_header) {
  if (!host_header) return true; // HTTP/1.0 without Host: not a browser
  std::string h = host_header;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string::npos) return false;
    h = h.substr(1, close - 1);
  } else if (auto colon = h.find(':'); colon != std::string::npos) {
    h = h.substr(0, colon);
  }
  return g_ascii_strcasecmp(h.c_str(), "localhost") == 0 || g_hostname_is_ip_address(h.c_str());
}

GOptionGroup *host_option_group(HostOptions &opts) {
  GOptionEntry entries[] = {
      {"metrics", 0, 0, G_OPTION_ARG_STRING, &opts.metrics,
       "Serve the host's numbers (Prometheus text) at http://HOST:PORT/metrics; HOST is 127.0.0.1 "
       "unless given (any other address lets everyone who reaches it read them); PORT 0 picks one",
       "[HOST:]PORT"},
      {"negotiation-timeout", 0, 0, G_OPTION_ARG_INT, &opts.negotiation_timeout,
       "End a viewer not connected this many seconds after its offer, so it does not hold a "
       "place (0: never; 15)",
       "S"},
      {"max-viewers", 0, 0, G_OPTION_ARG_INT, &opts.max_viewers,
       "Most viewers served at once; one more is told max-peers and not served (100)", "N"},
      {nullptr}};
  GOptionGroup *group =
      g_option_group_new("host", "Host options:", "Show the host's options", nullptr, nullptr);
  g_option_group_add_entries(group, entries);
  return group;
}

bool apply_host_options(const char *cmd, GstElement *sink, const HostOptions &opts) {
  if (opts.negotiation_timeout < 0 || opts.negotiation_timeout > 3600) {
    g_printerr("roomcast %s: --negotiation-timeout must be 0-3600\n", cmd);
    return false;
  }
  g_object_set(sink, "negotiation-timeout", guint(opts.negotiation_timeout), nullptr);
  if (opts.max_viewers < 0 || opts.max_viewers > 10000) {
    g_printerr("roomcast %s: --max-viewers must be 1-10000\n", cmd);
    return false;
  }
  if (opts.max_viewers) g_object_set(sink, "max-peers", guint(opts.max_viewers), nullptr);
  if (opts.metrics) {
    std::string host;
    unsigned port = 0;
    if (!parse_listen_address(opts.metrics, host, port)) {
      g_printerr("roomcast %s: --metrics must be PORT or HOST:PORT with HOST an IP address "
                 "([ADDR]:PORT for IPv6), not '%s'\n",
                 cmd, opts.metrics);
      return false;
    }
  }
  return true;
}

bool start_host_metrics(const char *cmd, GstElement *sink, const HostOptions &opts, Server *server,
                        std::unique_ptr<HostMetrics> &out) {
  auto metrics = std::make_unique<HostMetrics>(sink);
  if (opts.metrics) {
    std::string host;
    unsigned port = 0;
    parse_listen_address(opts.metrics, host, port); // checked in apply_host_options
    g_autoptr(GError) err = nullptr;
    if (!metrics->listen(host, port, &err)) {
      g_printerr("roomcast %s: --metrics: cannot listen on %s: %s\n", cmd, opts.metrics,
                 err->message);
      return false;
    }
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(host.c_str());
    printf("roomcast %s: host metrics at %s%s\n", cmd, metrics->url().c_str(),
           g_inet_address_get_is_loopback(a) ? ""
                                             : " (not loopback: anyone who reaches the port can "
                                               "read them)");
  }
  if (server) {
    metrics->add_to(*server);
  }
  out = std::move(metrics);
  return true;
}

} // namespace roomcast::app
