#include "ws-client.h"

#include "tls-pin.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <csignal>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

namespace roomcast::test {

void fail_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_assertion_message(G_LOG_DOMAIN, file, line, "", msg);
  abort(); // only reached with non-fatal assertions; a failed helper cannot go on
}

bool iterate_until(const std::function<bool()> &pred, int timeout_ms) {
  if (pred()) return true;
  bool timed_out = false;
  GSource *timer = g_timeout_source_new(static_cast<guint>(std::max(timeout_ms, 0)));
  g_source_set_callback(
      timer,
      [](gpointer p) -> gboolean {
        *static_cast<bool *>(p) = true;
        return G_SOURCE_REMOVE;
      },
      &timed_out, nullptr);
  GMainContext *ctx = g_main_context_get_thread_default();
  g_source_attach(timer, ctx);
  bool ok = false;
  while (!(ok = pred()) && !timed_out)
    g_main_context_iteration(ctx, TRUE);
  g_source_destroy(timer);
  g_source_unref(timer);
  return ok;
}

void spin(int ms) {
  iterate_until([] { return false; }, ms);
}

// ---- ServerProcess ----------------------------------------------------------------------------

struct ServerProcess::State {
  bool exited = false;
  GDataInputStream *out = nullptr; // the server's stdout, kept open for the process's lifetime
  ~State() { g_clear_object(&out); }
};

namespace {

struct LineRead {
  bool done = false;
  char *line = nullptr;
  std::string error;
};

void child_setup(gpointer) {
  // Whatever happens to the test (a failed assertion aborts it), the server goes with it.
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
}

} // namespace

ServerProcess::ServerProcess(std::vector<std::string> args, std::vector<std::string> env)
    : state_(std::make_shared<State>()) {
  const char *bin = g_getenv("ROOMCAST_BIN");
  if (!bin || !*bin) TEST_FAIL("ROOMCAST_BIN is not set (meson sets it to the roomcast binary)");
  std::vector<const char *> argv{bin, "serve", "--port", "0"};
  for (const auto &a : args)
    argv.push_back(a.c_str());
  if (g_getenv("ROOMCAST_TEST_VERBOSE")) argv.push_back("--verbose");
  argv.push_back(nullptr);

  g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup(launcher, child_setup, nullptr, nullptr);
  for (const auto &e : env) {
    auto eq = e.find('=');
    if (eq == std::string::npos) TEST_FAIL("environment entry '%s' has no '='", e.c_str());
    g_subprocess_launcher_setenv(launcher, e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), TRUE);
  }
  g_autoptr(GError) err = nullptr;
  proc_ = g_subprocess_launcher_spawnv(launcher, argv.data(), &err);
  if (!proc_) TEST_FAIL("cannot start %s: %s", bin, err->message);

  auto *hold = new std::shared_ptr<State>(state_);
  g_subprocess_wait_async(
      proc_, nullptr,
      [](GObject *, GAsyncResult *, gpointer p) {
        auto *s = static_cast<std::shared_ptr<State> *>(p);
        (*s)->exited = true;
        delete s;
      },
      hold);

  state_->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc_));
  g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(state_->out), FALSE);

  // Read lines until "roomcast serve: listening on ws://127.0.0.1:PORT/ws" (10 s at most).
  const gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  std::string seen;
  for (;;) {
    auto rd = std::make_shared<LineRead>();
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_data_input_stream_read_line_async(
        state_->out, G_PRIORITY_DEFAULT, cancel,
        [](GObject *src, GAsyncResult *res, gpointer p) {
          std::unique_ptr<std::shared_ptr<LineRead>> h(static_cast<std::shared_ptr<LineRead> *>(p));
          GError *e = nullptr;
          (*h)->line =
              g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(src), res, nullptr, &e);
          if (e) (*h)->error = e->message;
          g_clear_error(&e);
          (*h)->done = true;
        },
        new std::shared_ptr<LineRead>(rd));
    int left_ms = static_cast<int>((deadline - g_get_monotonic_time()) / 1000);
    if (!iterate_until([&] { return rd->done; }, std::max(left_ms, 1))) {
      g_cancellable_cancel(cancel);
      iterate_until([&] { return rd->done; }, 1000);
      g_free(rd->line);
      TEST_FAIL("the server did not say where it listens within 10 s; its output: %s",
                seen.c_str());
    }
    if (!rd->line)
      TEST_FAIL("the server's output ended before it listened (%s); it said: %s",
                rd->error.empty() ? "end of file" : rd->error.c_str(), seen.c_str());
    std::string line = rd->line;
    g_free(rd->line);
    seen += line + "\n";
    const std::string prefix = "roomcast serve: listening on ws://127.0.0.1:";
    const std::string tls_prefix = "roomcast serve: listening on wss://127.0.0.1:";
    const std::string fp_prefix = "roomcast serve: TLS certificate SHA-256 fingerprint ";
    if (line.rfind(prefix, 0) == 0 || line.rfind(tls_prefix, 0) == 0) {
      tls_ = line.rfind(tls_prefix, 0) == 0;
      port_ = static_cast<unsigned>(
          g_ascii_strtoull(line.c_str() + (tls_ ? tls_prefix : prefix).size(), nullptr, 10));
      if (port_ == 0 || port_ > 65535 || !g_str_has_suffix(line.c_str(), "/ws"))
        TEST_FAIL("cannot read the port from '%s'", line.c_str());
      if (!tls_) break; // else: on to the fingerprint line
    } else if (line.rfind(fp_prefix, 0) == 0) {
      fingerprint_ = line.substr(fp_prefix.size());
      break;
    }
  }
  g_test_message("server %s on port %u", g_subprocess_get_identifier(proc_), port_);
}

ServerProcess::~ServerProcess() {
  stop();
  g_clear_object(&proc_);
}

std::string ServerProcess::ws_url() const {
  return std::string(tls_ ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_) + "/ws";
}

std::string ServerProcess::http_url(const char *path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

GPid ServerProcess::pid() const {
  const char *id = proc_ ? g_subprocess_get_identifier(proc_) : nullptr;
  return id ? static_cast<GPid>(g_ascii_strtoll(id, nullptr, 10)) : 0;
}

bool ServerProcess::alive() const {
  return proc_ && !state_->exited && g_subprocess_get_identifier(proc_) != nullptr;
}

void ServerProcess::stop() {
  if (!proc_ || port_ == 0) return;
  port_ = 0; // once only
  if (!alive()) {
    iterate_until([&] { return state_->exited; }, 2000);
    TEST_FAIL("the server died during the test (%s %d)",
              g_subprocess_get_if_signaled(proc_) ? "signal" : "exit status",
              g_subprocess_get_if_signaled(proc_) ? g_subprocess_get_term_sig(proc_)
                                                  : g_subprocess_get_exit_status(proc_));
  }
  g_subprocess_send_signal(proc_, SIGTERM);
  if (!iterate_until([&] { return state_->exited; }, 5000)) {
    g_subprocess_force_exit(proc_);
    iterate_until([&] { return state_->exited; }, 5000);
    TEST_FAIL("the server did not stop within 5 s of SIGTERM");
  }
  if (!g_subprocess_get_if_exited(proc_) || g_subprocess_get_exit_status(proc_) != 0)
    TEST_FAIL("the server did not exit cleanly on SIGTERM (%s %d)",
              g_subprocess_get_if_signaled(proc_) ? "signal" : "exit status",
              g_subprocess_get_if_signaled(proc_) ? g_subprocess_get_term_sig(proc_)
                                                  : g_subprocess_get_exit_status(proc_));
}

// ---- WsClient ---------------------------------------------------------------------------------

struct WsClient::ConnectOp {
  WsClient *self = nullptr; // null once the waiter gave up
  bool done = false;
  std::string error;
  GCancellable *cancel = g_cancellable_new();
  ~ConnectOp() { g_object_unref(cancel); }
};

WsClient::WsClient(std::string label) : label_(std::move(label)) {}

WsClient::~WsClient() {
  if (pending_) pending_->self = nullptr;
  if (ws_) {
    detach();
    // (After abort() closed_ is set and the stream is gone: nothing to say goodbye on.)
    if (!closed_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    g_clear_object(&ws_);
  }
  g_clear_object(&session_);
}

void WsClient::attach(SoupWebsocketConnection *ws) {
  ws_ = ws;
  g_signal_connect(ws_, "message", G_CALLBACK(on_message), this);
  g_signal_connect(ws_, "closed", G_CALLBACK(on_closed), this);
  g_signal_connect(ws_, "error", G_CALLBACK(on_error), this);
}

void WsClient::detach() {
  if (ws_) g_signal_handlers_disconnect_by_data(ws_, this);
}

bool WsClient::try_connect(const std::string &url, std::string &error, int timeout_ms) {
  if (ws_) TEST_FAIL("%s: already connected", label_.c_str());
  if (!session_) {
    session_ = soup_session_new();
    soup_session_set_proxy_resolver(session_, nullptr); // loopback only, whatever $http_proxy says
    if (!tls_ca_file.empty()) {
      g_autoptr(GError) err = nullptr;
      g_autoptr(GTlsDatabase) db = g_tls_file_database_new(tls_ca_file.c_str(), &err);
      if (!db)
        TEST_FAIL("%s: cannot read %s: %s", label_.c_str(), tls_ca_file.c_str(), err->message);
      soup_session_set_tls_database(session_, db);
    } else if (!tls_pin.empty()) {
      soup_session_set_tls_database(session_, nullptr); // the pin alone decides
    }
  }
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
  if (!msg) {
    error = "bad URL " + url;
    return false;
  }
  if (!tls_pin.empty())
    g_signal_connect(msg, "accept-certificate",
                     G_CALLBACK(+[](SoupMessage *, GTlsCertificate *cert, GTlsCertificateFlags,
                                    gpointer data) -> gboolean {
                       GByteArray *der = nullptr;
                       g_object_get(cert, "certificate", &der, nullptr);
                       std::string fp = roomcast::tls::sha256_fingerprint(der->data, der->len);
                       g_byte_array_unref(der);
                       return fp == static_cast<WsClient *>(data)->tls_pin;
                     }),
                     this);
  auto op = std::make_shared<ConnectOp>();
  op->self = this;
  pending_ = op;
  soup_session_websocket_connect_async(
      session_, msg, origin.empty() ? nullptr : origin.c_str(), nullptr, G_PRIORITY_DEFAULT,
      op->cancel,
      [](GObject *src, GAsyncResult *res, gpointer p) {
        std::unique_ptr<std::shared_ptr<ConnectOp>> h(static_cast<std::shared_ptr<ConnectOp> *>(p));
        ConnectOp &op = **h;
        GError *e = nullptr;
        SoupWebsocketConnection *ws =
            soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &e);
        op.done = true;
        if (e) op.error = e->message;
        g_clear_error(&e);
        if (!ws) return;
        // Handlers go on before the main loop can deliver the first frame.
        if (op.self)
          op.self->attach(ws);
        else
          g_object_unref(ws);
      },
      new std::shared_ptr<ConnectOp>(op));
  bool done = iterate_until([&] { return op->done; }, timeout_ms);
  pending_.reset();
  if (!done) {
    op->self = nullptr;
    g_cancellable_cancel(op->cancel);
    error = "timed out after " + std::to_string(timeout_ms) + " ms";
    return false;
  }
  if (!ws_) {
    error = op->error;
    return false;
  }
  return true;
}

void WsClient::connect(const std::string &url, int timeout_ms) {
  std::string error;
  if (!try_connect(url, error, timeout_ms))
    TEST_FAIL("%s: cannot connect to %s: %s", label_.c_str(), url.c_str(), error.c_str());
}

bool WsClient::is_open() const {
  return ws_ && !closed_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN;
}

void WsClient::send_text(const std::string &text) {
  if (!is_open())
    TEST_FAIL("%s: cannot send on a closed connection (close code %u)", label_.c_str(),
              close_code_);
  soup_websocket_connection_send_text(ws_, text.c_str());
}

void WsClient::send(const proto::Message &m) {
  send_text(proto::serialize(m));
}

void WsClient::send_binary(const void *data, gsize len) {
  if (!is_open()) TEST_FAIL("%s: cannot send on a closed connection", label_.c_str());
  soup_websocket_connection_send_binary(ws_, data, len);
}

void WsClient::send_raw_text(std::string_view bytes) {
  if (!is_open()) TEST_FAIL("%s: cannot send on a closed connection", label_.c_str());
  g_autoptr(GBytes) b = g_bytes_new(bytes.data(), bytes.size());
  soup_websocket_connection_send_message(ws_, SOUP_WEBSOCKET_DATA_TEXT, b);
}

void WsClient::on_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer data) {
  auto *self = static_cast<WsClient *>(data);
  gsize len = 0;
  const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    self->garbage_.push_back("<binary frame of " + std::to_string(len) + " bytes>");
    return;
  }
  std::string_view sv(text ? text : "", len);
  proto::ParseError err;
  auto m = proto::parse(sv, err);
  if (!m) {
    self->garbage_.push_back(std::string(sv) + " (" + err.message + ")");
    return;
  }
  if (std::holds_alternative<proto::Ping>(*m)) {
    self->server_pings_++;
    if (self->auto_pong && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(ws, proto::serialize(proto::Pong{}).c_str());
    return;
  }
  self->queue_.push_back(std::move(*m));
}

void WsClient::on_closed(SoupWebsocketConnection *ws, gpointer data) {
  auto *self = static_cast<WsClient *>(data);
  self->closed_ = true;
  self->close_code_ = soup_websocket_connection_get_close_code(ws);
}

void WsClient::on_error(SoupWebsocketConnection *, GError *error, gpointer data) {
  auto *self = static_cast<WsClient *>(data);
  g_test_message("%s: WebSocket error: %s", self->label_.c_str(), error->message);
}

std::string WsClient::describe_queue() const {
  std::string out;
  for (const auto &m : queue_)
    out += "\n    " + proto::serialize(m);
  for (const auto &g : garbage_)
    out += "\n    unparsable: " + g;
  if (out.empty()) out = " (nothing)";
  if (closed_) out += "\n    [connection closed, code " + std::to_string(close_code_) + "]";
  return out;
}

proto::Message WsClient::expect(const std::function<bool(const proto::Message &)> &pred,
                                const std::string &what, int timeout_ms) {
  auto find = [&] {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (pred(*it)) return it;
    return queue_.end();
  };
  bool found =
      iterate_until([&] { return !garbage_.empty() || find() != queue_.end(); }, timeout_ms);
  if (!garbage_.empty())
    TEST_FAIL("%s: the server sent something that is not a protocol message:%s", label_.c_str(),
              describe_queue().c_str());
  if (!found)
    TEST_FAIL("%s: no %s within %d ms; received instead:%s", label_.c_str(), what.c_str(),
              timeout_ms, describe_queue().c_str());
  auto it = find();
  proto::Message m = std::move(*it);
  queue_.erase(it);
  return m;
}

proto::Message WsClient::expect_type(proto::Type type, int timeout_ms) {
  return expect([type](const proto::Message &m) { return proto::type_of(m) == type; },
                std::string("'") + proto::to_string(type) + "' message", timeout_ms);
}

proto::Error WsClient::expect_error(proto::ErrorCode code, int timeout_ms) {
  proto::Error m = expect_type<proto::Error>(timeout_ms);
  if (m.code != code)
    TEST_FAIL("%s: got error %s (%s), wanted %s", label_.c_str(), proto::to_string(m.code),
              m.message.c_str(), proto::to_string(code));
  if (m.message.empty())
    TEST_FAIL("%s: error %s without a message", label_.c_str(), proto::to_string(code));
  return m;
}

proto::PeerJoined WsClient::expect_peer_joined(const std::string &peer_id, int timeout_ms) {
  return expect<proto::PeerJoined>([&](const proto::PeerJoined &m) { return m.peer.id == peer_id; },
                                   "peer-joined for " + peer_id, timeout_ms);
}

proto::PeerLeft WsClient::expect_peer_left(const std::string &peer_id, int timeout_ms) {
  return expect<proto::PeerLeft>([&](const proto::PeerLeft &m) { return m.id == peer_id; },
                                 "peer-left for " + peer_id, timeout_ms);
}

proto::Welcome WsClient::join(const std::string &room, proto::Role role, const std::string &name) {
  send(proto::make_join(room, role, name));
  proto::Message m = expect(
      [](const proto::Message &m) {
        return std::holds_alternative<proto::Welcome>(m) || std::holds_alternative<proto::Error>(m);
      },
      "welcome to room " + room);
  if (const auto *e = std::get_if<proto::Error>(&m))
    TEST_FAIL("%s: joining %s as %s failed: %s: %s", label_.c_str(), room.c_str(),
              proto::to_string(role), proto::to_string(e->code), e->message.c_str());
  auto &w = std::get<proto::Welcome>(m);
  if (!proto::valid_peer_id(w.id))
    TEST_FAIL("%s: welcome with a bad id '%s'", label_.c_str(), w.id.c_str());
  id_ = w.id;
  return w;
}

void WsClient::sync(int timeout_ms) {
  send(proto::Ping{});
  expect_type<proto::Pong>(timeout_ms);
}

void WsClient::expect_nothing(const char *context) {
  sync();
  if (!queue_.empty() || !garbage_.empty())
    TEST_FAIL("%s: unexpected messages%s%s:%s", label_.c_str(), *context ? " " : "", context,
              describe_queue().c_str());
}

std::vector<proto::Message> WsClient::take_all() {
  std::vector<proto::Message> out(std::make_move_iterator(queue_.begin()),
                                  std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

bool WsClient::wait_closed(int timeout_ms) {
  return iterate_until([&] { return closed_; }, timeout_ms);
}

void WsClient::close(int timeout_ms) {
  if (!ws_) TEST_FAIL("%s: not connected", label_.c_str());
  if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
  if (!wait_closed(timeout_ms))
    TEST_FAIL("%s: close did not finish within %d ms", label_.c_str(), timeout_ms);
}

void WsClient::abort() {
  if (!ws_) TEST_FAIL("%s: not connected", label_.c_str());
  // No close frame: the TCP connection just goes away. We stop listening to this connection.
  detach();
  GIOStream *io = soup_websocket_connection_get_io_stream(ws_);
  g_autoptr(GError) err = nullptr;
  if (!g_io_stream_close(io, nullptr, &err))
    TEST_FAIL("%s: closing the stream failed: %s", label_.c_str(), err->message);
  closed_ = true;
}

// ---- HTTP -------------------------------------------------------------------------------------

HttpReply http_get(const std::string &url, int timeout_ms) {
  HttpReply reply;
  g_autoptr(SoupSession) session = soup_session_new();
  soup_session_set_proxy_resolver(session, nullptr);
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
  if (!msg) {
    reply.error = "bad URL";
    return reply;
  }
  struct Op {
    bool done = false;
    GBytes *body = nullptr;
    std::string error;
  };
  auto op = std::make_shared<Op>();
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  soup_session_send_and_read_async(
      session, msg, G_PRIORITY_DEFAULT, cancel,
      [](GObject *src, GAsyncResult *res, gpointer p) {
        std::unique_ptr<std::shared_ptr<Op>> h(static_cast<std::shared_ptr<Op> *>(p));
        GError *e = nullptr;
        (*h)->body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, &e);
        if (e) (*h)->error = e->message;
        g_clear_error(&e);
        (*h)->done = true;
      },
      new std::shared_ptr<Op>(op));
  if (!iterate_until([&] { return op->done; }, timeout_ms)) {
    g_cancellable_cancel(cancel);
    iterate_until([&] { return op->done; }, 1000);
    if (op->body) g_bytes_unref(op->body);
    reply.error = "timed out";
    return reply;
  }
  reply.error = op->error;
  reply.status = soup_message_get_status(msg);
  if (const char *ct =
          soup_message_headers_get_content_type(soup_message_get_response_headers(msg), nullptr))
    reply.content_type = ct;
  if (op->body) {
    gsize len = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(op->body, &len));
    reply.body.assign(data ? data : "", len);
    g_bytes_unref(op->body);
  }
  return reply;
}

std::string HttpReply::header(const std::string &name) const {
  std::string lname = name + ":";
  for (auto &c : lname)
    c = g_ascii_tolower(c);
  std::size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    std::string line = head.substr(pos, head.find("\r\n", pos) - pos);
    std::string lower = line;
    for (auto &c : lower)
      c = g_ascii_tolower(c);
    if (lower.rfind(lname, 0) == 0) {
      std::string v = line.substr(lname.size());
      while (!v.empty() && v.front() == ' ')
        v.erase(0, 1);
      return v;
    }
  }
  return {};
}

HttpReply raw_http_get(unsigned port, const std::string &raw_path, int timeout_s) {
  return raw_http(port,
                  "GET " + raw_path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nConnection: close\r\n\r\n",
                  timeout_s);
}

HttpReply raw_http(unsigned port, const std::string &req, int timeout_s) {
  HttpReply reply;
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_socket_client_set_timeout(client, static_cast<guint>(timeout_s));
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(
      client, "127.0.0.1", static_cast<guint16>(port), nullptr, &err);
  if (!conn) {
    reply.error = err->message;
    return reply;
  }
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  if (!g_output_stream_write_all(out, req.data(), req.size(), nullptr, nullptr, &err)) {
    reply.error = err->message;
    return reply;
  }
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
  std::string all;
  char buf[4096];
  for (;;) {
    gssize n = g_input_stream_read(in, buf, sizeof buf, nullptr, &err);
    if (n < 0) {
      reply.error = err->message;
      return reply;
    }
    if (n == 0) break;
    all.append(buf, static_cast<size_t>(n));
    if (all.size() > 4 * 1024 * 1024) break;
    // A WebSocket upgrade stays open after its head.
    if (all.rfind("HTTP/1.1 101", 0) == 0 && all.find("\r\n\r\n") != std::string::npos) break;
  }
  // "HTTP/1.1 404 Not Found\r\n..."
  if (all.rfind("HTTP/1.", 0) != 0 || all.size() < 12) {
    reply.error = "not an HTTP response: " + all.substr(0, 100);
    return reply;
  }
  reply.status = static_cast<unsigned>(g_ascii_strtoull(all.c_str() + 9, nullptr, 10));
  auto end = all.find("\r\n\r\n");
  if (end != std::string::npos) reply.body = all.substr(end + 4);
  reply.head = all.substr(0, end);
  return reply;
}

} // namespace roomcast::test
