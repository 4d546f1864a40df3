// Test helpers for driving a real `roomcast serve` process over loopback:
//  - ServerProcess starts the binary named by $ROOMCAST_BIN on a free port and stops it again;
//  - WsClient is a libsoup 3 WebSocket client that queues what the server sends (parsed with the
//    protocol library) and waits for messages with a bounded main-context loop.
// Every wait has a timeout; a timeout fails the running GTest case with a description of what was
// expected and what arrived instead. Nothing here ever blocks without a bound.
#pragma once

#include "protocol.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace roomcast::test {

namespace proto = roomcast::proto;

// Fails the running test with a formatted message (reported at file:line).
[[noreturn]] void fail_at(const char *file, int line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
#define TEST_FAIL(...) ::roomcast::test::fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define TEST_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::roomcast::test::fail_at(__FILE__, __LINE__, "check failed: " #cond ": " __VA_ARGS__);      \
  } while (0)

// Iterates the thread-default main context until pred() holds or timeout_ms passed; returns
// pred(). Never blocks longer than the timeout (plus one dispatch).
bool iterate_until(const std::function<bool()> &pred, int timeout_ms);
// Iterates the main context for `ms` milliseconds.
void spin(int ms);

// One `roomcast serve --port 0 ARGS...` process (with ENV, "NAME=value" entries, added to the
// test's environment).
class ServerProcess {
public:
  explicit ServerProcess(std::vector<std::string> args = {}, std::vector<std::string> env = {});
  ~ServerProcess(); // stop()
  ServerProcess(const ServerProcess &) = delete;
  ServerProcess &operator=(const ServerProcess &) = delete;

  unsigned port() const { return port_; }
  std::string ws_url() const; // wss:// when the server speaks TLS
  std::string http_url(const char *path = "/") const;
  bool tls() const { return tls_; }
  // The certificate fingerprint the server printed (TLS), "AB:12:…".
  const std::string &fingerprint() const { return fingerprint_; }
  // The process id (for /proc).
  GPid pid() const;
  // False once the process has exited (for any reason).
  bool alive() const;
  // SIGTERM, then waits (bounded) and checks that the server exited cleanly with status 0.
  void stop();

private:
  struct State;
  std::shared_ptr<State> state_;
  GSubprocess *proc_ = nullptr;
  unsigned port_ = 0;
  bool tls_ = false;
  std::string fingerprint_;
};

class WsClient {
public:
  // `label` names the client in failure messages.
  explicit WsClient(std::string label);
  ~WsClient();
  WsClient(const WsClient &) = delete;
  WsClient &operator=(const WsClient &) = delete;

  // Opens the WebSocket; fails the test on error or after timeout_ms.
  void connect(const std::string &url, int timeout_ms = 5000);
  // Same, but reports failure instead of failing the test.
  bool try_connect(const std::string &url, std::string &error, int timeout_ms = 5000);

  void send(const proto::Message &m);
  void send_text(const std::string &text);
  void send_binary(const void *data, gsize len);
  // A text frame with exactly these bytes (NUL bytes, invalid UTF-8 and all).
  void send_raw_text(std::string_view bytes);

  // Sends a join and waits for the welcome (failing the test on an error reply); remembers the id.
  proto::Welcome join(const std::string &room, proto::Role role, const std::string &name = {});

  // Waits for the first queued message matching `pred`, removes it from the queue and returns it.
  // Messages before it stay queued. Fails the test (naming `what`) on timeout.
  proto::Message expect(const std::function<bool(const proto::Message &)> &pred,
                        const std::string &what, int timeout_ms = 3000);
  // The same for the first message of type T that matches `pred`.
  template <typename T>
  T expect(const std::function<bool(const T &)> &pred, const std::string &what,
           int timeout_ms = 3000) {
    proto::Message m = expect(
        [&](const proto::Message &m) {
          const T *t = std::get_if<T>(&m);
          return t && pred(*t);
        },
        what, timeout_ms);
    return std::get<T>(std::move(m));
  }
  // The first message of type T.
  template <typename T> T expect_type(int timeout_ms = 3000) {
    return expect<T>([](const T &) { return true; },
                     std::string("'") + proto::to_string(T::kType) + "' message", timeout_ms);
  }
  proto::Message expect_type(proto::Type type, int timeout_ms = 3000);
  proto::Error expect_error(proto::ErrorCode code, int timeout_ms = 3000);
  // Waits for peer-joined about `peer_id` / peer-left of `peer_id`.
  proto::PeerJoined expect_peer_joined(const std::string &peer_id, int timeout_ms = 3000);
  proto::PeerLeft expect_peer_left(const std::string &peer_id, int timeout_ms = 3000);

  // Round trip through the server: sends ping and waits for the pong. Everything the server sent
  // this client before handling the ping has arrived once this returns.
  void sync(int timeout_ms = 3000);
  // sync(), then fails the test if anything else is queued.
  void expect_nothing(const char *context = "");
  // Takes and returns everything queued.
  std::vector<proto::Message> take_all();

  // Waits until the connection is closed (by either side); false on timeout.
  bool wait_closed(int timeout_ms);
  // Clean close (close frame) and wait for it to finish.
  void close(int timeout_ms = 3000);
  // Closes the underlying stream without a close frame, as a crashed client would.
  void abort();

  const std::string &label() const { return label_; }
  const std::string &id() const { return id_; }
  bool is_open() const;
  bool closed() const { return closed_; }
  gushort close_code() const { return close_code_; }
  // Pings received from the server (answered with pong when auto_pong is set).
  int server_pings() const { return server_pings_; }
  std::deque<proto::Message> &queue() { return queue_; }
  // Text of everything queued, for failure messages.
  std::string describe_queue() const;

  // Answer the server's keepalive pings (on by default).
  bool auto_pong = true;
  // The Origin header of the handshake (none when empty), as a browser page would send it.
  std::string origin;
  // wss://: take only the certificate with this fingerprint ("AB:12:…"); when empty, the
  // authorities of tls_ca_file, or the system's.
  std::string tls_pin;
  std::string tls_ca_file;

private:
  struct ConnectOp;
  static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer self);
  static void on_closed(SoupWebsocketConnection *ws, gpointer self);
  static void on_error(SoupWebsocketConnection *ws, GError *error, gpointer self);
  void attach(SoupWebsocketConnection *ws);
  void detach();

  std::string label_;
  std::string id_;
  SoupSession *session_ = nullptr;
  SoupWebsocketConnection *ws_ = nullptr;
  std::shared_ptr<ConnectOp> pending_;
  std::deque<proto::Message> queue_;
  std::vector<std::string> garbage_; // frames that did not parse
  int server_pings_ = 0;
  bool closed_ = false;
  gushort close_code_ = 0;
};

// One HTTP request with SoupSession (bounded). Returns the status (0 on transport error).
struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string error;
  std::string head; // status line and headers (raw_http only)
  // The value of a response header (raw_http only); empty when absent.
  std::string header(const std::string &name) const;
};
HttpReply http_get(const std::string &url, int timeout_ms = 5000);
// Sends `request` (a complete HTTP/1.1 request, headers and blank line included) as-is over TCP
// and reads the answer until the server closes or `timeout_s` passes.
HttpReply raw_http(unsigned port, const std::string &request, int timeout_s = 5);
// One raw HTTP/1.1 request line sent as-is over TCP (so the path is not normalised on our side).
HttpReply raw_http_get(unsigned port, const std::string &raw_path, int timeout_s = 5);

} // namespace roomcast::test
