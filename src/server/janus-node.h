// One Janus node, as a client of its WebSocket API (subprotocol "janus-protocol"): the connection,
// one Janus session with its keepalives, transactions and the node's unsolicited events.
//
// Threading: lives on the thread-default GMainContext of the thread that calls connect() (the
// signalling server's), like every libsoup object; nothing here blocks.
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <functional>
#include <map>
#include <string>

namespace roomcast::janus {

class Node {
public:
  // A transaction's final answer: "success" or a plugin "event" (after an "ack"), or nullptr when
  // it failed (a Janus "error", the node went down, or 10 s without an answer); `why` says why.
  using Reply = std::function<void(JsonObject *answer, const std::string &why)>;

  Node(std::string url, unsigned index);
  ~Node();
  Node(const Node &) = delete;
  Node &operator=(const Node &) = delete;

  // Connects (again) and creates a session; on_up when it is there, on_down when a session that
  // was up (or a connect attempt) ends. Reconnects by itself after a loss, with a backoff.
  void connect();
  bool up() const { return session_ != 0; }
  const std::string &url() const { return url_; }
  unsigned index() const { return index_; }

  void attach(const char *plugin, Reply reply);
  // A plugin message on a handle; `jsep` (may be nullptr) is taken.
  void message(guint64 handle, JsonObject *body, JsonObject *jsep, Reply reply);
  // A trickled candidate (empty candidate: completed).
  void trickle(guint64 handle, const std::string &candidate, int mline, const std::string &mid);
  void detach(guint64 handle);

  std::function<void()> on_up, on_down;
  // Messages without a transaction of ours: trickle, webrtcup, hangup, media, plugin events.
  std::function<void(guint64 sender, JsonObject *msg)> on_event;

private:
  struct Pending {
    Reply reply;
    gint64 deadline_us = 0;
    bool keepalive = false;
  };
  void send(JsonObject *msg, Reply reply, bool keepalive = false); // takes msg
  void lost(const std::string &why);
  void schedule_reconnect();
  void handle(JsonObject *msg);
  static void on_connected(GObject *source, GAsyncResult *res, gpointer data);
  static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer data);
  static void on_closed(SoupWebsocketConnection *ws, gpointer data);
  static gboolean on_tick(gpointer data);

  std::string url_;
  unsigned index_;
  SoupSession *soup_ = nullptr;
  SoupWebsocketConnection *ws_ = nullptr;
  GCancellable *cancel_ = nullptr;
  gulong message_id_ = 0, closed_id_ = 0;
  guint64 session_ = 0;
  std::map<std::string, Pending> pending_;
  guint64 next_tx_ = 1;
  guint tick_ = 0, retry_ = 0;
  unsigned attempts_ = 0;
  gint64 last_keepalive_us_ = 0;
  bool connecting_ = false;
};

} // namespace roomcast::janus
