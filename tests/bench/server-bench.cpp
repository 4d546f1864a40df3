// roomcast-server-bench: a load client for the signalling server (`roomcast serve`).
//
// One process, one GMainContext, many libsoup 3 WebSocket connections speaking the real protocol
// (docs/protocol.md). Two phases, chosen with --phase:
//
//   idle   ramps to --clients connections, spread over live rooms of --room-size (one host, the
//          rest viewers), checks that every one got its `welcome` and that /healthz counts them,
//          then holds them for --hold seconds while a probe connection measures ping → pong
//          round trips. Held connections answer the server's keepalive pings.
//   relay  --pairs meeting rooms of two members each. Each member relays `ice` messages to its
//          partner (the server passes `candidate` on unchanged, so its foundation carries the
//          send time in microseconds of this process's monotonic clock). First, for every rate
//          in --rates, an open-loop offered load spread round-robin over all members gives the
//          relay latency distribution; then a closed loop (--window messages in flight per
//          member, each arrival answered at once) gives the most messages per second relayed.
//
// With --server-pid the client samples the server's CPU time and RSS from /proc over each
// measured window. The result is one JSON object on stdout; progress goes to stderr.
//
// The server's limits must allow the load: --max-connections, --max-rooms, --max-peers, and a
// --max-rate/--max-burst far above the per-connection rates used here.

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

// ---- process sampling (/proc) -------------------------------------------------------------------

struct ProcSample {
  double cpu_s = -1; // utime + stime
  long rss_kib = -1;
  long sleeps = -1; // voluntary context switches: for a main loop, about one per wakeup from poll
  gint64 at_us = 0;
};

ProcSample sample_proc(int pid) {
  ProcSample s;
  s.at_us = g_get_monotonic_time();
  if (pid <= 0) return s;
  g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", pid);
  g_autofree char *stat = nullptr;
  if (g_file_get_contents(stat_path, &stat, nullptr, nullptr)) {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const char *p = strrchr(stat, ')');
    if (p) {
      unsigned long utime = 0, stime = 0;
      // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
      if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
        s.cpu_s = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
    }
  }
  g_autofree char *status_path = g_strdup_printf("/proc/%d/status", pid);
  g_autofree char *status = nullptr;
  if (g_file_get_contents(status_path, &status, nullptr, nullptr)) {
    const char *p = strstr(status, "VmRSS:");
    if (p) s.rss_kib = strtol(p + 6, nullptr, 10);
    p = strstr(status, "\nvoluntary_ctxt_switches:");
    if (p) s.sleeps = strtol(p + strlen("\nvoluntary_ctxt_switches:"), nullptr, 10);
  }
  return s;
}

// CPU use between two samples, in percent of one core.
double cpu_pct(const ProcSample &a, const ProcSample &b) {
  if (a.cpu_s < 0 || b.cpu_s < 0 || b.at_us <= a.at_us) return -1;
  return 100.0 * (b.cpu_s - a.cpu_s) / (double(b.at_us - a.at_us) / 1e6);
}

// ---- small JSON output helpers ------------------------------------------------------------------

// Latency samples in microseconds, summarised as percentiles and a log-spaced histogram.
void add_latency_summary(JsonBuilder *b, const char *name, std::vector<gint64> v) {
  json_builder_set_member_name(b, name);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "n");
  json_builder_add_int_value(b, gint64(v.size()));
  if (!v.empty()) {
    std::sort(v.begin(), v.end());
    auto pct = [&](double q) {
      // nearest-rank percentile
      size_t rank = size_t(std::ceil(q / 100.0 * double(v.size())));
      rank = std::clamp<size_t>(rank, 1, v.size());
      return double(v[rank - 1]) / 1000.0;
    };
    double sum = 0;
    for (gint64 x : v)
      sum += double(x);
    const std::pair<const char *, double> ps[] = {
        {"p50_ms", 50}, {"p90_ms", 90}, {"p95_ms", 95}, {"p99_ms", 99}, {"p999_ms", 99.9}};
    for (auto &[key, q] : ps) {
      json_builder_set_member_name(b, key);
      json_builder_add_double_value(b, pct(q));
    }
    json_builder_set_member_name(b, "min_ms");
    json_builder_add_double_value(b, double(v.front()) / 1000.0);
    json_builder_set_member_name(b, "max_ms");
    json_builder_add_double_value(b, double(v.back()) / 1000.0);
    json_builder_set_member_name(b, "mean_ms");
    json_builder_add_double_value(b, sum / double(v.size()) / 1000.0);
    // Histogram: 20 bins per decade from 10 us to 10 s; bin i covers [edge i, edge i+1).
    const int per_decade = 20;
    const double lo = 10.0;
    const int nbins = 6 * per_decade;
    std::vector<gint64> counts(nbins + 2, 0); // [0]: below lo, [nbins+1]: above the top
    for (gint64 x : v) {
      double us = std::max<double>(double(x), 0.0);
      int i = us < lo ? -1 : int(std::floor(std::log10(us / lo) * per_decade));
      counts[std::clamp(i + 1, 0, nbins + 1)]++;
    }
    json_builder_set_member_name(b, "hist_edges_us");
    json_builder_begin_array(b);
    for (int i = 0; i <= nbins; i++)
      json_builder_add_double_value(b, lo * std::pow(10.0, double(i) / per_decade));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "hist_counts"); // below, bins..., above
    json_builder_begin_array(b);
    for (gint64 c : counts)
      json_builder_add_int_value(b, c);
    json_builder_end_array(b);
  }
  json_builder_end_object(b);
}

// Main-loop wakeups per second and CPU per wakeup between two samples. A GMainContext polls and
// checks every source on every wakeup, so the CPU per wakeup grows with the connections held.
void add_wakeups(JsonBuilder *b, const ProcSample &a, const ProcSample &z) {
  double s = double(z.at_us - a.at_us) / 1e6;
  long n = z.sleeps - a.sleeps;
  json_builder_set_member_name(b, "wakeups_per_s");
  json_builder_add_double_value(b, s > 0 && a.sleeps >= 0 ? n / s : -1);
  json_builder_set_member_name(b, "cpu_us_per_wakeup");
  json_builder_add_double_value(b, n > 0 ? 1e6 * (z.cpu_s - a.cpu_s) / double(n) : -1);
}

void add_proc(JsonBuilder *b, const char *name, const ProcSample &a, const ProcSample &z) {
  json_builder_set_member_name(b, name);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "cpu_pct");
  json_builder_add_double_value(b, cpu_pct(a, z));
  json_builder_set_member_name(b, "cpu_s");
  json_builder_add_double_value(b, z.cpu_s - a.cpu_s);
  json_builder_set_member_name(b, "rss_kib");
  json_builder_add_int_value(b, z.rss_kib);
  add_wakeups(b, a, z);
  json_builder_end_object(b);
}

void member_int(JsonBuilder *b, const char *k, gint64 v) {
  json_builder_set_member_name(b, k);
  json_builder_add_int_value(b, v);
}
void member_double(JsonBuilder *b, const char *k, double v) {
  json_builder_set_member_name(b, k);
  json_builder_add_double_value(b, v);
}
void member_str(JsonBuilder *b, const char *k, const std::string &v) {
  json_builder_set_member_name(b, k);
  json_builder_add_string_value(b, v.c_str());
}

// ---- the load
// ------------------------------------------------------------------------------------

struct Bench;

struct Client {
  Bench *bench = nullptr;
  int index = 0;
  std::string room;
  const char *role = "viewer";
  SoupWebsocketConnection *ws = nullptr; // owned
  enum class State { Idle, Connecting, Joining, Joined, Failed, Closed } state = State::Idle;
  std::string id;      // ours, from welcome
  std::string partner; // the other member's id (relay phase)
};

// Sends unless the connection is closing (the server may still be talking while we close).
void send_text(SoupWebsocketConnection *ws, const char *text) {
  if (ws && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text(ws, text);
}

// One more connection on a thread and GMainContext of its own: it pings the server every 50 ms
// (the next one once the pong is back) and keeps the round
// trips. Its own loop never waits behind the thousands of load connections, so the round trips
// tell how responsive the server is, not how busy the load client is.
class Probe {
public:
  Probe(std::string url, std::string room) : url_(std::move(url)), room_(std::move(room)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Probe() { stop(); }

  bool wait_ready(double timeout_s) {
    gint64 deadline = g_get_monotonic_time() + gint64(timeout_s * 1e6);
    while (!ready_ && !done_ && g_get_monotonic_time() < deadline)
      g_usleep(1000);
    return ready_;
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Round trips of the pings sent in [from, to), in microseconds.
  std::vector<gint64> rtts_between(gint64 from, gint64 to) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<gint64> v;
    for (auto &[sent, rtt] : rtts_)
      if (sent >= from && sent < to) v.push_back(rtt);
    return v;
  }
  int timeouts_between(gint64 from, gint64 to) {
    std::lock_guard<std::mutex> lock(mu_);
    return int(std::count_if(timeouts_.begin(), timeouts_.end(),
                             [&](gint64 t) { return t >= from && t < to; }));
  }

private:
  void run() {
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    SoupSession *session = soup_session_new_with_options("timeout", 0u, nullptr);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url_.c_str());
    soup_session_websocket_connect_async(
        session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *s, GAsyncResult *res, gpointer d) {
          auto *self = static_cast<Probe *>(d);
          self->ws_ = soup_session_websocket_connect_finish(SOUP_SESSION(s), res, nullptr);
          self->connected_ = true;
        },
        this);
    // A 1 ms tick keeps the loop below from sleeping through the ping schedule.
    GSource *tick = g_timeout_source_new(1);
    g_source_set_callback(
        tick, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
    g_source_attach(tick, ctx);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!connected_ && !stop_ && g_get_monotonic_time() < deadline)
      g_main_context_iteration(ctx, TRUE);
    if (ws_) {
      g_signal_connect(ws_, "message", G_CALLBACK(on_message), this);
      g_autofree char *join = g_strdup_printf("{\"type\":\"join\",\"version\":1,\"room\":\"%s\","
                                              "\"role\":\"member\",\"name\":\"probe\"}",
                                              room_.c_str());
      soup_websocket_connection_send_text(ws_, join);
      gint64 next = 0;
      while (!stop_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN) {
        g_main_context_iteration(ctx, TRUE);
        gint64 now = g_get_monotonic_time();
        if (!ready_ || now < next) continue;
        if (!sent_us_) {
          sent_us_ = now;
          soup_websocket_connection_send_text(ws_, "{\"type\":\"ping\"}");
          next = now + 50 * 1000;
        }
      }
      if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, "probe done");
      deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
      while (soup_websocket_connection_get_state(ws_) != SOUP_WEBSOCKET_STATE_CLOSED &&
             g_get_monotonic_time() < deadline)
        g_main_context_iteration(ctx, TRUE);
      g_signal_handlers_disconnect_by_data(ws_, this);
      g_clear_object(&ws_);
    }
    g_source_destroy(tick);
    g_source_unref(tick);
    g_object_unref(session);
    // Let the session's pending cleanups run before the context goes.
    while (g_main_context_iteration(ctx, FALSE)) {
    }
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    done_ = true;
  }

  static void on_message(SoupWebsocketConnection *ws, gint, GBytes *bytes, gpointer data) {
    auto *self = static_cast<Probe *>(data);
    gsize len = 0;
    const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
    std::string_view t(text ? text : "", len);
    gint64 now = g_get_monotonic_time();
    if (t.find("\"type\":\"welcome\"") != std::string_view::npos) {
      self->ready_ = true;
    } else if (t.find("\"type\":\"pong\"") != std::string_view::npos && self->sent_us_) {
      std::lock_guard<std::mutex> lock(self->mu_);
      // One ping at a time, so a pong always answers the ping outstanding; a slow one counts
      // in full (and as a timeout beyond a second).
      self->rtts_.emplace_back(self->sent_us_, now - self->sent_us_);
      if (now - self->sent_us_ > G_USEC_PER_SEC) self->timeouts_.push_back(self->sent_us_);
      self->sent_us_ = 0;
    } else if (t.find("\"type\":\"ping\"") != std::string_view::npos) {
      send_text(ws, "{\"type\":\"pong\"}");
    }
  }

  std::string url_, room_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, ready_{false}, done_{false};
  // Touched by the probe thread only:
  SoupWebsocketConnection *ws_ = nullptr;
  bool connected_ = false;
  gint64 sent_us_ = 0;
  // Shared; mu_ guards these two (no other lock is ever taken while holding it).
  std::mutex mu_;
  std::vector<std::pair<gint64, gint64>> rtts_; // (sent at, round trip)
  std::vector<gint64> timeouts_;                // sent at, of round trips over 1 s
};

struct Bench {
  // options
  std::string url;
  int server_pid = 0;
  int clients = 1000;
  int room_size = 100;
  int concurrency = 64;
  double hold_s = 3;
  double ramp_timeout_s = 120;
  int pairs = 100;
  int idle_clients = 0;
  std::vector<double> rates{5000};
  double rate_duration_s = 3;
  double throughput_s = 3;
  double warmup_s = 0.5;
  int window = 2;
  std::string tag;

  SoupSession *session = nullptr;
  std::vector<std::unique_ptr<Client>> all;
  int joined = 0, failed = 0, closed = 0;
  std::map<std::string, gint64> errors; // error code → count
  gint64 pings_answered = 0;

  // relay accounting
  enum class Mode { None, Open, Closed } mode = Mode::None;
  bool measuring = false;
  gint64 window_start_us = 0;
  gint64 received = 0, received_in_window = 0, sent = 0, relay_errors = 0;
  std::vector<gint64> latencies;

  gint64 received_now() const { return received; }

  void record_error(const char *code) { errors[code ? code : "?"]++; }

  // -- sending --

  static void send_ice(Client &c) {
    if (!c.ws || c.partner.empty()) return;
    char buf[256];
    g_snprintf(buf, sizeof buf,
               "{\"type\":\"ice\",\"to\":\"%s\",\"candidate\":\"candidate:%" G_GINT64_FORMAT
               " 1 udp 2122260223 127.0.0.1 %d typ host\",\"sdpMLineIndex\":0,\"sdpMid\":\"0\"}",
               c.partner.c_str(), g_get_monotonic_time(), 40000 + c.index % 20000);
    send_text(c.ws, buf);
    c.bench->sent++;
  }

  // -- receiving --

  void on_relayed(Client &c, gint64 stamp_us) {
    gint64 now = g_get_monotonic_time();
    received++;
    if (measuring && stamp_us >= window_start_us) {
      received_in_window++;
      latencies.push_back(now - stamp_us);
    }
    if (mode == Mode::Closed) send_ice(c);
  }

  void on_text(Client &c, const char *text, gsize len) {
    // Fast path for the relayed ice messages (the bulk of the traffic): the server writes
    // "type" first; anything unexpected goes through the JSON parser below.
    static const char kIce[] = "{\"type\":\"ice\"";
    static const char kCand[] = "\"candidate\":\"candidate:";
    if (len > sizeof kIce && memcmp(text, kIce, sizeof kIce - 1) == 0) {
      const char *p = g_strstr_len(text, gssize(len), kCand);
      if (p) {
        on_relayed(c, g_ascii_strtoll(p + sizeof kCand - 1, nullptr, 10));
        return;
      }
    }
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, text, gssize(len), nullptr)) {
      record_error("client-bad-json");
      return;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return;
    JsonObject *o = json_node_get_object(root);
    const char *type = json_object_get_string_member_with_default(o, "type", "");
    if (strcmp(type, "welcome") == 0) {
      c.id = json_object_get_string_member_with_default(o, "id", "");
      JsonArray *peers =
          json_object_has_member(o, "peers") ? json_object_get_array_member(o, "peers") : nullptr;
      if (peers && json_array_get_length(peers) > 0 && c.partner.empty() && mode == Mode::None &&
          pairs_phase) {
        JsonObject *peer = json_array_get_object_element(peers, 0);
        c.partner = json_object_get_string_member_with_default(peer, "id", "");
      }
      if (c.state == Client::State::Joining) {
        c.state = Client::State::Joined;
        joined++;
      }
    } else if (strcmp(type, "peer-joined") == 0) {
      if (pairs_phase && c.partner.empty() && json_object_has_member(o, "peer")) {
        JsonObject *peer = json_object_get_object_member(o, "peer");
        c.partner = json_object_get_string_member_with_default(peer, "id", "");
      }
    } else if (strcmp(type, "ping") == 0) {
      send_text(c.ws, "{\"type\":\"pong\"}");
      pings_answered++;
    } else if (strcmp(type, "ice") == 0) {
      const char *cand = json_object_get_string_member_with_default(o, "candidate", "");
      if (g_str_has_prefix(cand, "candidate:"))
        on_relayed(c, g_ascii_strtoll(cand + strlen("candidate:"), nullptr, 10));
    } else if (strcmp(type, "error") == 0) {
      const char *code = json_object_get_string_member_with_default(o, "code", "?");
      const char *ref = json_object_get_string_member_with_default(o, "ref", "");
      record_error(code);
      if (errors[code] <= 3)
        g_printerr("server-bench: client %d got error %s (%s): %s\n", c.index, code, ref,
                   json_object_get_string_member_with_default(o, "message", ""));
      if (strcmp(ref, "ice") == 0) relay_errors++;
      if (c.state == Client::State::Joining && strcmp(ref, "join") == 0) {
        c.state = Client::State::Failed;
        failed++;
      }
    }
  }

  bool pairs_phase = false;

  static void on_message(SoupWebsocketConnection *, gint type, GBytes *bytes, gpointer data) {
    auto *c = static_cast<Client *>(data);
    if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
    gsize len = 0;
    const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
    if (text) c->bench->on_text(*c, text, len);
  }

  static void on_closed(SoupWebsocketConnection *ws, gpointer data) {
    auto *c = static_cast<Client *>(data);
    Bench *b = c->bench;
    if (c->state == Client::State::Joining || c->state == Client::State::Connecting) {
      c->state = Client::State::Failed;
      b->failed++;
    } else if (c->state == Client::State::Joined && b->mode != Mode::None && !b->closing) {
      g_printerr("server-bench: client %d closed by the server (code %u)\n", c->index,
                 soup_websocket_connection_get_close_code(ws));
    }
    if (c->state != Client::State::Failed) c->state = Client::State::Closed;
    b->closed++;
  }

  bool closing = false;

  static void on_connected(GObject *source, GAsyncResult *res, gpointer data) {
    auto *c = static_cast<Client *>(data);
    Bench *b = c->bench;
    g_autoptr(GError) err = nullptr;
    SoupWebsocketConnection *ws =
        soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
    if (!ws) {
      if (b->failed < 5)
        g_printerr("server-bench: client %d cannot connect: %s\n", c->index, err->message);
      b->record_error("connect-failed");
      c->state = Client::State::Failed;
      b->failed++;
      return;
    }
    c->ws = ws;
    g_signal_connect(ws, "message", G_CALLBACK(on_message), c);
    g_signal_connect(ws, "closed", G_CALLBACK(on_closed), c);
    c->state = Client::State::Joining;
    g_autofree char *join = g_strdup_printf(
        "{\"type\":\"join\",\"version\":1,\"room\":\"%s\",\"role\":\"%s\",\"name\":\"bench %d\"}",
        c->room.c_str(), c->role, c->index);
    soup_websocket_connection_send_text(ws, join);
  }

  void connect(Client &c) {
    c.state = Client::State::Connecting;
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
    soup_session_websocket_connect_async(session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT,
                                         nullptr, on_connected, &c);
  }

  Client &add_client(std::string room, const char *role) {
    auto c = std::make_unique<Client>();
    c->bench = this;
    c->index = int(all.size());
    c->room = std::move(room);
    c->role = role;
    all.push_back(std::move(c));
    return *all.back();
  }

  // -- driving the main context --

  // Iterates until pred() or the timeout. pred() runs after every dispatch; a timer at the
  // deadline wakes the loop when nothing else does. No periodic tick: with thousands of
  // connections every wakeup of a GMainContext costs time in proportion to them (GLib polls and
  // checks every source), so the held clients must not be woken for nothing.
  bool iterate_until(const std::function<bool()> &pred, double timeout_s) {
    gint64 deadline = g_get_monotonic_time() + gint64(timeout_s * 1e6);
    guint timer = g_timeout_add(
        guint(std::ceil(timeout_s * 1000)) + 1,
        [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
    bool ok = true;
    while (!pred()) {
      if (g_get_monotonic_time() >= deadline) {
        ok = false;
        break;
      }
      g_main_context_iteration(nullptr, TRUE);
    }
    g_source_remove(timer);
    return ok;
  }
  void spin(double s) {
    iterate_until([] { return false; }, s);
  }

  // Connects clients [from, to) with at most `concurrency` handshakes + joins in flight.
  // Returns the seconds it took.
  double ramp(size_t from, size_t to, double timeout_s) {
    gint64 t0 = g_get_monotonic_time();
    size_t next = from;
    int base_done = joined + failed;
    size_t total = to - from;
    gint64 last_report = t0;
    iterate_until(
        [&] {
          int done = joined + failed - base_done;
          while (next < to && int(next - from) - done < concurrency)
            connect(*all[next++]);
          gint64 now = g_get_monotonic_time();
          if (now - last_report > 2 * G_USEC_PER_SEC) {
            last_report = now;
            g_printerr("server-bench: %d/%zu joined, %d failed\n", joined, total, failed);
          }
          return size_t(done) >= total;
        },
        timeout_s);
    return double(g_get_monotonic_time() - t0) / 1e6;
  }

  void close_all() {
    closing = true;
    for (auto &c : all)
      if (c->ws && soup_websocket_connection_get_state(c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bench done");
    iterate_until(
        [&] {
          for (auto &c : all)
            if (c->ws && soup_websocket_connection_get_state(c->ws) != SOUP_WEBSOCKET_STATE_CLOSED)
              return false;
          return true;
        },
        10);
    for (auto &c : all)
      if (c->ws) {
        g_signal_handlers_disconnect_by_data(c->ws, c.get());
        g_clear_object(&c->ws);
      }
  }

  // GET /healthz; returns the parsed "connections" count or -1.
  gint64 healthz_connections() {
    std::string http = url;
    if (g_str_has_prefix(http.c_str(), "ws://")) http = "http://" + http.substr(5);
    auto slash = http.find('/', strlen("http://"));
    http = http.substr(0, slash) + "/healthz";
    g_autoptr(SoupMessage) msg = soup_message_new("GET", http.c_str());
    struct Result {
      GBytes *body = nullptr;
      bool done = false;
    } r;
    soup_session_send_and_read_async(
        session, msg, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *s, GAsyncResult *res, gpointer d) {
          auto *r = static_cast<Result *>(d);
          r->body = soup_session_send_and_read_finish(SOUP_SESSION(s), res, nullptr);
          r->done = true;
        },
        &r);
    iterate_until([&] { return r.done; }, 10);
    if (!r.done) return -1; // leaks the pending request; only on a dead server
    g_autoptr(GBytes) body = r.body;
    if (!body) return -1;
    gsize len = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(body, &len));
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!json_parser_load_from_data(parser, data, gssize(len), nullptr)) return -1;
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return -1;
    return json_object_get_int_member_with_default(json_node_get_object(root), "connections", -1);
  }

  // -- phases --

  void phase_idle(JsonBuilder *b) {
    ProcSample s0 = sample_proc(server_pid), c0 = sample_proc(getpid());
    // The probe joins first and pings the server every 50 ms throughout: its round trips tell
    // how responsive the server stays while the others join and while they are held.
    Probe probe(url, "probe-" + tag);
    if (!probe.wait_ready(10)) g_printerr("server-bench: the probe could not join\n");
    gint64 ramp_from = g_get_monotonic_time();
    for (int i = 0; i < clients; i++) {
      int room = i / room_size;
      add_client("idle-" + tag + "-" + std::to_string(room),
                 i % room_size == 0 ? "host" : "viewer");
    }
    g_printerr("server-bench: idle: ramping to %d clients in rooms of %d\n", clients, room_size);
    double ramp_s = ramp(0, all.size(), ramp_timeout_s);
    gint64 ramp_to = g_get_monotonic_time();
    ProcSample s1 = sample_proc(server_pid), c1 = sample_proc(getpid());
    int idle_joined = 0;
    for (int i = 0; i < clients; i++)
      idle_joined += all[i]->state == Client::State::Joined;
    g_printerr("server-bench: idle: %d joined in %.2f s (%d failed); holding %.1f s\n", idle_joined,
               ramp_s, failed, hold_s);
    gint64 health = healthz_connections();

    spin(0.5); // let the last joins settle
    ProcSample s2 = sample_proc(server_pid), c2 = sample_proc(getpid());
    gint64 pings_before = pings_answered;
    spin(hold_s);
    ProcSample s3 = sample_proc(server_pid), c3 = sample_proc(getpid());
    int still_open = 0;
    for (int i = 0; i < clients; i++)
      still_open += all[i]->ws && all[i]->state == Client::State::Joined &&
                    soup_websocket_connection_get_state(all[i]->ws) == SOUP_WEBSOCKET_STATE_OPEN;

    json_builder_set_member_name(b, "idle");
    json_builder_begin_object(b);
    member_int(b, "target", clients);
    member_int(b, "room_size", room_size);
    member_int(b, "rooms", (clients + room_size - 1) / room_size);
    member_int(b, "joined", idle_joined);
    member_int(b, "failed", failed);
    member_int(b, "still_open_after_hold", still_open);
    member_int(b, "healthz_connections", health);
    member_double(b, "ramp_s", ramp_s);
    member_double(b, "joins_per_s", ramp_s > 0 ? idle_joined / ramp_s : 0);
    member_double(b, "hold_s", double(s3.at_us - s2.at_us) / 1e6);
    member_int(b, "keepalive_pings_answered", pings_answered - pings_before);
    probe.stop();
    member_int(b, "probe_timeouts", probe.timeouts_between(s2.at_us, s3.at_us));
    add_latency_summary(b, "probe_rtt", probe.rtts_between(s2.at_us, s3.at_us));
    member_int(b, "ramp_probe_timeouts", probe.timeouts_between(ramp_from, ramp_to));
    add_latency_summary(b, "ramp_probe_rtt", probe.rtts_between(ramp_from, ramp_to));
    json_builder_set_member_name(b, "server");
    json_builder_begin_object(b);
    member_int(b, "rss_before_kib", s0.rss_kib);
    member_int(b, "rss_kib", s3.rss_kib);
    member_double(b, "rss_per_client_kib",
                  idle_joined > 0 ? double(s3.rss_kib - s0.rss_kib) / idle_joined : -1);
    member_double(b, "ramp_cpu_pct", cpu_pct(s0, s1));
    member_double(b, "ramp_cpu_ms_per_join",
                  idle_joined > 0 ? 1000.0 * (s1.cpu_s - s0.cpu_s) / idle_joined : -1);
    member_double(b, "hold_cpu_pct", cpu_pct(s2, s3));
    json_builder_set_member_name(b, "hold");
    json_builder_begin_object(b);
    add_wakeups(b, s2, s3);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "client");
    json_builder_begin_object(b);
    member_int(b, "rss_kib", c3.rss_kib);
    member_double(b, "ramp_cpu_pct", cpu_pct(c0, c1));
    member_double(b, "hold_cpu_pct", cpu_pct(c2, c3));
    json_builder_end_object(b);
    json_builder_end_object(b);
  }

  // Resets the relay counters and starts a measured window at `start_us`.
  void start_window(gint64 start_us) {
    window_start_us = start_us;
    received_in_window = 0;
    latencies.clear();
    measuring = true;
  }

  // Waits until what was sent arrived (or the timeout); returns the messages still missing.
  gint64 drain(double timeout_s) {
    iterate_until([&] { return received + relay_errors >= sent; }, timeout_s);
    return sent - received - relay_errors;
  }

  void phase_relay(JsonBuilder *b) {
    // Optional background: idle clients held (in live rooms, answering keepalive pings) for the
    // whole relay phase, so the relay runs on a server that also holds a crowd.
    double idle_ramp_s = 0;
    int idle_joined = 0;
    if (idle_clients > 0) {
      for (int i = 0; i < idle_clients; i++)
        add_client("bg-" + tag + "-" + std::to_string(i / room_size),
                   i % room_size == 0 ? "host" : "viewer");
      g_printerr("server-bench: relay: holding %d idle clients first\n", idle_clients);
      idle_ramp_s = ramp(0, all.size(), ramp_timeout_s);
      for (auto &c : all)
        idle_joined += c->state == Client::State::Joined;
    }
    const size_t first_member = all.size();
    pairs_phase = true;
    for (int i = 0; i < pairs; i++) {
      std::string room = "pair-" + tag + "-" + std::to_string(i);
      add_client(room, "member");
      add_client(room, "member");
    }
    g_printerr("server-bench: relay: %d pairs\n", pairs);
    // Whichever member of a pair joins second finds the other in its welcome; the first one
    // learns the partner from peer-joined.
    std::vector<Client *> members;
    for (size_t i = first_member; i < all.size(); i++)
      members.push_back(all[i].get());
    double ramp_s = ramp(first_member, all.size(), ramp_timeout_s);
    iterate_until(
        [&] {
          for (Client *c : members)
            if (c->state == Client::State::Joined && c->partner.empty()) return false;
          return true;
        },
        10);
    std::vector<Client *> ready;
    for (Client *c : members)
      if (c->state == Client::State::Joined && !c->partner.empty()) ready.push_back(c);
    g_printerr("server-bench: relay: %zu/%zu members ready in %.2f s\n", ready.size(),
               members.size(), ramp_s);

    json_builder_set_member_name(b, "relay");
    json_builder_begin_object(b);
    member_int(b, "pairs", pairs);
    member_int(b, "members_ready", gint64(ready.size()));
    member_double(b, "ramp_s", ramp_s);
    member_int(b, "idle_clients", idle_clients);
    member_int(b, "idle_joined", idle_joined);
    member_double(b, "idle_ramp_s", idle_ramp_s);
    member_str(b, "message", "ice to the partner; candidate foundation = send time (us)");

    // Open loop: a fixed offered rate, round-robin over every ready member.
    json_builder_set_member_name(b, "open_loop");
    json_builder_begin_array(b);
    for (double rate : rates) {
      if (ready.empty()) break;
      mode = Mode::Open;
      gint64 sent0 = sent, recv0 = received, err0 = relay_errors;
      gint64 t0 = g_get_monotonic_time();
      gint64 measure_from = t0 + gint64(warmup_s * 1e6);
      gint64 t_end = measure_from + gint64(rate_duration_s * 1e6);
      measuring = false;
      size_t rr = 0;
      gint64 due_sent = 0;
      ProcSample s0{}, c0{};
      bool in_window = false;
      gint64 sent_in_window = 0, sent_at_window = 0;
      // A 1 ms timer paces the sends; the send count follows the clock, so a late tick sends
      // the messages it owes.
      struct Tick {
        static gboolean cb(gpointer) { return G_SOURCE_CONTINUE; }
      };
      guint tick = g_timeout_add(1, Tick::cb, nullptr);
      iterate_until(
          [&] {
            gint64 now = g_get_monotonic_time();
            if (!in_window && now >= measure_from) {
              in_window = true;
              start_window(now);
              sent_at_window = sent;
              s0 = sample_proc(server_pid);
              c0 = sample_proc(getpid());
            }
            if (now >= t_end) return true;
            gint64 owed = gint64(double(now - t0) / 1e6 * rate) - due_sent;
            for (gint64 k = 0; k < owed; k++) {
              send_ice(*ready[rr]);
              rr = (rr + 1) % ready.size();
            }
            due_sent += std::max<gint64>(owed, 0);
            return false;
          },
          warmup_s + rate_duration_s + 5);
      g_source_remove(tick);
      sent_in_window = sent - sent_at_window;
      ProcSample s1 = sample_proc(server_pid), c1 = sample_proc(getpid());
      double window_s = double(s1.at_us - s0.at_us) / 1e6;
      gint64 missing = drain(5);
      measuring = false;
      g_printerr("server-bench: relay: offered %.0f/s: %zu samples, %" G_GINT64_FORMAT " missing\n",
                 rate, latencies.size(), missing);
      json_builder_begin_object(b);
      member_double(b, "offered_per_s", rate);
      member_double(b, "window_s", window_s);
      member_double(b, "sent_per_s", sent_in_window / window_s);
      member_double(b, "received_per_s", received_in_window / window_s);
      member_int(b, "sent", sent - sent0);
      member_int(b, "received", received - recv0);
      member_int(b, "relay_errors", relay_errors - err0);
      member_int(b, "missing", missing);
      add_latency_summary(b, "latency", latencies);
      add_proc(b, "server", s0, s1);
      add_proc(b, "client", c0, c1);
      json_builder_end_object(b);
      mode = Mode::None;
    }
    json_builder_end_array(b);

    // Closed loop: `window` messages in flight per member; every arrival is answered at once.
    if (!ready.empty() && throughput_s > 0) {
      mode = Mode::Closed;
      gint64 recv0 = received, err0 = relay_errors;
      for (int k = 0; k < window; k++)
        for (Client *c : ready)
          send_ice(*c);
      gint64 t0 = g_get_monotonic_time();
      spin(warmup_s);
      ProcSample s0 = sample_proc(server_pid), c0 = sample_proc(getpid());
      start_window(s0.at_us);
      spin(throughput_s);
      ProcSample s1 = sample_proc(server_pid), c1 = sample_proc(getpid());
      measuring = false;
      gint64 in_window = received_in_window;
      mode = Mode::None; // stop answering; let what is in flight arrive
      gint64 missing = drain(5);
      double window_s = double(s1.at_us - s0.at_us) / 1e6;
      g_printerr("server-bench: relay: closed loop: %.0f messages/s relayed\n",
                 in_window / window_s);
      json_builder_set_member_name(b, "closed_loop");
      json_builder_begin_object(b);
      member_int(b, "window_per_member", window);
      member_int(b, "in_flight", gint64(window) * gint64(ready.size()));
      member_double(b, "window_s", window_s);
      member_double(b, "relayed_per_s", in_window / window_s);
      member_int(b, "received", received - recv0);
      member_int(b, "relay_errors", relay_errors - err0);
      member_int(b, "missing", missing);
      member_double(b, "elapsed_s", double(g_get_monotonic_time() - t0) / 1e6);
      add_latency_summary(b, "latency", latencies);
      add_proc(b, "server", s0, s1);
      add_proc(b, "client", c0, c1);
      json_builder_end_object(b);
    }
    json_builder_end_object(b);
  }
};

std::vector<double> parse_rates(const char *s) {
  std::vector<double> v;
  g_auto(GStrv) parts = g_strsplit(s, ",", -1);
  for (char **p = parts; *p; p++)
    if (**p) v.push_back(g_ascii_strtod(*p, nullptr));
  return v;
}

} // namespace

int main(int argc, char **argv) {
  Bench b;
  g_autofree char *url = nullptr, *phase = nullptr, *rates = nullptr, *tag = nullptr;
  double hold = b.hold_s, rate_duration = b.rate_duration_s, throughput = b.throughput_s,
         warmup = b.warmup_s;
  GOptionEntry entries[] = {
      {"url", 0, 0, G_OPTION_ARG_STRING, &url, "Server WebSocket URL (ws://127.0.0.1:8443/ws)",
       "URL"},
      {"phase", 0, 0, G_OPTION_ARG_STRING, &phase, "idle or relay", "PHASE"},
      {"server-pid", 0, 0, G_OPTION_ARG_INT, &b.server_pid, "Sample this process's CPU and RSS",
       "PID"},
      {"clients", 0, 0, G_OPTION_ARG_INT, &b.clients, "idle: connections to hold (1000)", "N"},
      {"room-size", 0, 0, G_OPTION_ARG_INT, &b.room_size, "idle: peers per live room (100)", "N"},
      {"hold", 0, 0, G_OPTION_ARG_DOUBLE, &hold, "idle: seconds to hold them (3)", "S"},
      {"ramp-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &b.ramp_timeout_s,
       "Give up connecting after this many seconds (120)", "S"},
      {"concurrency", 0, 0, G_OPTION_ARG_INT, &b.concurrency, "Handshakes + joins in flight (64)",
       "N"},
      {"pairs", 0, 0, G_OPTION_ARG_INT, &b.pairs, "relay: pairs of members (100)", "N"},
      {"idle-clients", 0, 0, G_OPTION_ARG_INT, &b.idle_clients,
       "relay: idle clients (in rooms of --room-size) held throughout (0)", "N"},
      {"rates", 0, 0, G_OPTION_ARG_STRING, &rates, "relay: offered messages/s, comma-separated",
       "R,R"},
      {"rate-duration", 0, 0, G_OPTION_ARG_DOUBLE, &rate_duration,
       "relay: measured seconds per rate (3)", "S"},
      {"throughput-duration", 0, 0, G_OPTION_ARG_DOUBLE, &throughput,
       "relay: measured seconds of the closed loop; 0 skips it (3)", "S"},
      {"warmup", 0, 0, G_OPTION_ARG_DOUBLE, &warmup, "Unmeasured seconds before each window", "S"},
      {"window", 0, 0, G_OPTION_ARG_INT, &b.window, "relay: messages in flight per member (2)",
       "N"},
      {"tag", 0, 0, G_OPTION_ARG_STRING, &tag, "Room name prefix (makes names unique per run)",
       "T"},
      {nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- load client for roomcast serve");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    g_printerr("server-bench: %s\n", err->message);
    return 2;
  }
  std::string which = phase ? phase : "idle";
  if ((which != "idle" && which != "relay") || b.clients < 1 || b.room_size < 2 || b.pairs < 1 ||
      b.concurrency < 1 || b.window < 1) {
    g_printerr("server-bench: bad options (see --help)\n");
    return 2;
  }
  b.url = url ? url : "ws://127.0.0.1:8443/ws";
  if (rates) b.rates = parse_rates(rates);
  b.tag = tag ? tag : std::to_string(getpid());
  b.hold_s = hold;
  b.rate_duration_s = rate_duration;
  b.throughput_s = throughput;
  b.warmup_s = warmup;

  // One fd per connection: take the whole hard limit.
  struct rlimit rl {};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t soft_before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  int needed = (which == "idle" ? b.clients + 1 : 2 * b.pairs + b.idle_clients) + 64;
  if (rl.rlim_cur != RLIM_INFINITY && rlim_t(needed) > rl.rlim_cur)
    g_printerr("server-bench: warning: RLIMIT_NOFILE %llu is below the %d descriptors needed\n",
               (unsigned long long)rl.rlim_cur, needed);

  // Handshakes are the only thing the session's connection limits apply to (a WebSocket leaves
  // the pool once upgraded), but keep them out of the way; no I/O timeout on idle sockets.
  b.session =
      soup_session_new_with_options("max-conns", b.concurrency + 16, "max-conns-per-host",
                                    b.concurrency + 16, "timeout", 0u, "idle-timeout", 0u, nullptr);

  g_autoptr(JsonBuilder) jb = json_builder_new();
  json_builder_begin_object(jb);
  member_str(jb, "phase", which);
  member_str(jb, "url", b.url);
  json_builder_set_member_name(jb, "nofile");
  json_builder_begin_object(jb);
  member_int(jb, "soft_before", gint64(soft_before));
  member_int(jb, "soft", rl.rlim_cur == RLIM_INFINITY ? -1 : gint64(rl.rlim_cur));
  member_int(jb, "hard", rl.rlim_max == RLIM_INFINITY ? -1 : gint64(rl.rlim_max));
  json_builder_end_object(jb);
  member_int(jb, "nproc", sysconf(_SC_NPROCESSORS_ONLN));

  if (which == "idle")
    b.phase_idle(jb);
  else
    b.phase_relay(jb);

  json_builder_set_member_name(jb, "errors");
  json_builder_begin_object(jb);
  for (auto &[code, n] : b.errors)
    member_int(jb, code.c_str(), n);
  json_builder_end_object(jb);
  json_builder_end_object(jb);

  b.close_all();
  g_object_unref(b.session);

  g_autoptr(JsonNode) root = json_builder_get_root(jb);
  g_autofree char *out = json_to_string(root, FALSE);
  printf("%s\n", out);
  return 0;
}
