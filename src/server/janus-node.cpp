#include "janus-node.h"

#include <utility>
#include <vector>

namespace roomcast::janus {

namespace {
constexpr gint64 kTimeoutUs = 10 * G_USEC_PER_SEC;   // a transaction's answer
constexpr gint64 kKeepaliveUs = 10 * G_USEC_PER_SEC; // Janus drops a session after 60 s
constexpr unsigned kRetryMaxMs = 8000;

std::string to_text(JsonObject *o) {
  g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(node, o);
  g_autofree char *s = json_to_string(node, FALSE);
  return s;
}
} // namespace

Node::Node(std::string url, unsigned index) : url_(std::move(url)), index_(index) {
  soup_ = soup_session_new();
  tick_ = g_timeout_add(500, on_tick, this);
}

Node::~Node() {
  if (tick_) g_source_remove(tick_);
  if (retry_) g_source_remove(retry_);
  if (cancel_) {
    g_cancellable_cancel(cancel_);
    g_object_unref(cancel_);
  }
  if (ws_) {
    g_signal_handler_disconnect(ws_, message_id_);
    g_signal_handler_disconnect(ws_, closed_id_);
    if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, nullptr);
    g_object_unref(ws_);
  }
  g_object_unref(soup_);
}

void Node::connect() {
  if (connecting_ || ws_) return;
  connecting_ = true;
  g_autoptr(SoupMessage) msg = soup_message_new(SOUP_METHOD_GET, url_.c_str());
  if (!msg) {
    connecting_ = false;
    g_warning("janus node %u: '%s' is not a URL; not using it", index_, url_.c_str());
    return;
  }
  const char *protocols[] = {"janus-protocol", nullptr};
  if (cancel_) g_object_unref(cancel_);
  cancel_ = g_cancellable_new();
  soup_session_websocket_connect_async(soup_, msg, nullptr, const_cast<char **>(protocols),
                                       G_PRIORITY_DEFAULT, cancel_, on_connected, this);
}

void Node::on_connected(GObject *source, GAsyncResult *res, gpointer data) {
  g_autoptr(GError) err = nullptr;
  SoupWebsocketConnection *ws =
      soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
  if (!ws && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) return; // `data` is gone
  auto *self = static_cast<Node *>(data);
  self->connecting_ = false;
  if (!ws) {
    if (self->attempts_ == 0 || self->attempts_ % 8 == 0)
      g_message("janus node %u (%s): cannot connect: %s", self->index_, self->url_.c_str(),
                err->message);
    self->schedule_reconnect();
    return;
  }
  self->ws_ = ws;
  soup_websocket_connection_set_max_incoming_payload_size(ws, 1024 * 1024);
  self->message_id_ = g_signal_connect(ws, "message", G_CALLBACK(on_message), self);
  self->closed_id_ = g_signal_connect(ws, "closed", G_CALLBACK(on_closed), self);
  JsonObject *create = json_object_new();
  json_object_set_string_member(create, "janus", "create");
  self->send(create, [self](JsonObject *a, const std::string &why) {
    JsonObject *data =
        a && json_object_has_member(a, "data") ? json_object_get_object_member(a, "data") : nullptr;
    if (!data || !json_object_has_member(data, "id")) {
      self->lost("no session: " + (a ? std::string("malformed answer") : why));
      return;
    }
    self->session_ = json_object_get_int_member(data, "id");
    self->attempts_ = 0;
    self->last_keepalive_us_ = g_get_monotonic_time();
    g_message("janus node %u (%s): up, session %" G_GUINT64_FORMAT, self->index_,
              self->url_.c_str(), self->session_);
    if (self->on_up) self->on_up();
  });
}

void Node::schedule_reconnect() {
  if (retry_) return;
  unsigned ms = 500u << std::min(attempts_, 4u);
  attempts_++;
  retry_ = g_timeout_add(
      std::min(ms, kRetryMaxMs),
      [](gpointer d) -> gboolean {
        auto *self = static_cast<Node *>(d);
        self->retry_ = 0;
        self->connect();
        return G_SOURCE_REMOVE;
      },
      this);
}

// The connection or session is gone: every transaction fails, the owner hears on_down once (if
// the session was up), and we try again.
void Node::lost(const std::string &why) {
  const bool was_up = session_ != 0;
  session_ = 0;
  if (ws_) {
    g_signal_handler_disconnect(ws_, message_id_);
    g_signal_handler_disconnect(ws_, closed_id_);
    if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    g_object_unref(std::exchange(ws_, nullptr));
  }
  g_message("janus node %u (%s): down: %s", index_, url_.c_str(), why.c_str());
  auto failed = std::exchange(pending_, {});
  for (auto &[tx, p] : failed)
    if (p.reply) p.reply(nullptr, "node down: " + why);
  if (was_up && on_down) on_down();
  schedule_reconnect();
}

void Node::send(JsonObject *msg, Reply reply, bool keepalive) {
  if (!ws_ || soup_websocket_connection_get_state(ws_) != SOUP_WEBSOCKET_STATE_OPEN) {
    json_object_unref(msg);
    if (reply) reply(nullptr, "node down");
    return;
  }
  std::string tx = "t" + std::to_string(next_tx_++);
  json_object_set_string_member(msg, "transaction", tx.c_str());
  if (session_) json_object_set_int_member(msg, "session_id", gint64(session_));
  std::string text = to_text(msg);
  json_object_unref(msg);
  pending_[tx] = Pending{std::move(reply), g_get_monotonic_time() + kTimeoutUs, keepalive};
  soup_websocket_connection_send_text(ws_, text.c_str());
}

void Node::attach(const char *plugin, Reply reply) {
  JsonObject *m = json_object_new();
  json_object_set_string_member(m, "janus", "attach");
  json_object_set_string_member(m, "plugin", plugin);
  send(m, std::move(reply));
}

void Node::message(guint64 handle, JsonObject *body, JsonObject *jsep, Reply reply) {
  JsonObject *m = json_object_new();
  json_object_set_string_member(m, "janus", "message");
  json_object_set_int_member(m, "handle_id", gint64(handle));
  json_object_set_object_member(m, "body", body);
  if (jsep) json_object_set_object_member(m, "jsep", jsep);
  send(m, std::move(reply));
}

void Node::trickle(guint64 handle, const std::string &candidate, int mline,
                   const std::string &mid) {
  JsonObject *m = json_object_new();
  json_object_set_string_member(m, "janus", "trickle");
  json_object_set_int_member(m, "handle_id", gint64(handle));
  JsonObject *c = json_object_new();
  if (candidate.empty()) {
    json_object_set_boolean_member(c, "completed", TRUE);
  } else {
    json_object_set_string_member(c, "candidate", candidate.c_str());
    json_object_set_int_member(c, "sdpMLineIndex", mline);
    if (!mid.empty()) json_object_set_string_member(c, "sdpMid", mid.c_str());
  }
  json_object_set_object_member(m, "candidate", c);
  send(m, nullptr);
}

void Node::detach(guint64 handle) {
  if (!handle || !up()) return;
  JsonObject *m = json_object_new();
  json_object_set_string_member(m, "janus", "detach");
  json_object_set_int_member(m, "handle_id", gint64(handle));
  send(m, nullptr);
}

void Node::handle(JsonObject *msg) {
  const char *janus = json_object_get_string_member_with_default(msg, "janus", "");
  const char *tx = json_object_get_string_member_with_default(msg, "transaction", "");
  auto it = *tx ? pending_.find(tx) : pending_.end();
  if (it != pending_.end()) {
    if (g_str_equal(janus, "ack") && !it->second.keepalive) return; // the event follows
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (g_str_equal(janus, "error")) {
      JsonObject *e = json_object_has_member(msg, "error") &&
                              JSON_NODE_HOLDS_OBJECT(json_object_get_member(msg, "error"))
                          ? json_object_get_object_member(msg, "error")
                          : nullptr;
      std::string why = e ? json_object_get_string_member_with_default(e, "reason", "error")
                          : "error without a reason";
      if (p.reply) p.reply(nullptr, "janus error: " + why);
      return;
    }
    if (p.reply) p.reply(msg, {});
    return;
  }
  if (g_str_equal(janus, "timeout")) { // Janus dropped our session
    lost("session timed out on the node");
    return;
  }
  guint64 sender = json_object_get_int_member_with_default(msg, "sender", 0);
  if (on_event) on_event(sender, msg);
}

void Node::on_message(SoupWebsocketConnection *, gint type, GBytes *bytes, gpointer data) {
  auto *self = static_cast<Node *>(data);
  if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
  gsize len = 0;
  const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) err = nullptr;
  if (!text || !json_parser_load_from_data(parser, text, gssize(len), &err) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    g_warning("janus node %u: a message that is no JSON object ignored%s%s", self->index_,
              err ? ": " : "", err ? err->message : "");
    return;
  }
  self->handle(json_node_get_object(json_parser_get_root(parser)));
}

void Node::on_closed(SoupWebsocketConnection *ws, gpointer data) {
  auto *self = static_cast<Node *>(data);
  g_autofree char *why =
      g_strdup_printf("WebSocket closed (code %u)", soup_websocket_connection_get_close_code(ws));
  self->lost(why);
}

gboolean Node::on_tick(gpointer data) {
  auto *self = static_cast<Node *>(data);
  const gint64 now = g_get_monotonic_time();
  std::vector<std::pair<std::string, Pending>> late;
  for (auto it = self->pending_.begin(); it != self->pending_.end();) {
    if (now >= it->second.deadline_us) {
      late.emplace_back(it->first, std::move(it->second));
      it = self->pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto &[tx, p] : late) {
    if (p.keepalive) {
      self->lost("no answer to a keepalive within 10 s");
      return G_SOURCE_CONTINUE;
    }
    if (p.reply) p.reply(nullptr, "no answer within 10 s");
  }
  if (self->up() && now - self->last_keepalive_us_ >= kKeepaliveUs) {
    self->last_keepalive_us_ = now;
    JsonObject *k = json_object_new();
    json_object_set_string_member(k, "janus", "keepalive");
    self->send(k, nullptr, true);
  }
  return G_SOURCE_CONTINUE;
}

} // namespace roomcast::janus
