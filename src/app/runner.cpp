#include "runner.h"

#include "app.h"
#include "console.h"

#include "protocol.h"

#include <glib-unix.h>

#include <csignal>
#include <cstdarg>
#include <utility>

namespace roomcast::app {

Runner::Runner(const char *cmd, bool verbose)
    : cmd_(cmd), verbose_(verbose), loop_(g_main_loop_new(nullptr, FALSE)) {
  auto on_quit_signal = [](gpointer self) -> gboolean {
    static_cast<Runner *>(self)->stop(Stop::signal);
    return G_SOURCE_CONTINUE;
  };
  sigint_ = g_unix_signal_add(SIGINT, on_quit_signal, this);
  sigterm_ = g_unix_signal_add(SIGTERM, on_quit_signal, this);
}

Runner::~Runner() {
  stop_pipeline();
  for (guint id : {sigint_, sigterm_, sigusr1_, timer_})
    if (id) g_source_remove(id);
  g_main_loop_unref(loop_);
}

void Runner::watch(GstElement *pipeline) {
  stop_pipeline();
  pipeline_ = GRef<GstElement>::ref(pipeline);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_.get());
  gst_bus_add_watch(bus, on_bus, this);
}

void Runner::set_timeout(int seconds) {
  if (timer_) g_source_remove(std::exchange(timer_, 0));
  if (seconds <= 0) return;
  timer_ = g_timeout_add_seconds(
      static_cast<guint>(seconds),
      [](gpointer p) -> gboolean {
        auto *self = static_cast<Runner *>(p);
        self->timer_ = 0;
        self->stop(Stop::timeout);
        return G_SOURCE_REMOVE;
      },
      this);
}

void Runner::on_usr1(std::function<void()> fn) {
  usr1_ = std::move(fn);
  if (sigusr1_ || !usr1_) return;
  sigusr1_ = g_unix_signal_add(
      SIGUSR1,
      [](gpointer p) -> gboolean {
        auto *self = static_cast<Runner *>(p);
        if (self->usr1_) self->usr1_();
        return G_SOURCE_CONTINUE;
      },
      this);
}

bool Runner::start() {
  if (!pipeline_) return true;
  if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE)
    return true;
  // The bus usually carries the reason: let it be printed.
  while (g_main_context_iteration(nullptr, FALSE)) {
  }
  if (!failed_) say("the pipeline could not start");
  set_exit_code(kExitError);
  return false;
}

Runner::Stop Runner::run() {
  if (stop_ == Stop::none) g_main_loop_run(loop_);
  return stop_;
}

void Runner::stop(Stop why) {
  Stop none = Stop::none;
  stop_.compare_exchange_strong(none, why);
  // Quit on the loop's own context: from another thread, or before run() started, the call
  // waits there until the loop runs (g_main_loop_quit on a loop not yet running would be lost).
  g_main_context_invoke_full(
      nullptr, G_PRIORITY_DEFAULT,
      [](gpointer loop) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop *>(loop));
        return G_SOURCE_REMOVE;
      },
      g_main_loop_ref(loop_), reinterpret_cast<GDestroyNotify>(g_main_loop_unref));
}

void Runner::stop_pipeline() {
  if (!pipeline_) return;
  gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_.get());
  gst_bus_remove_watch(bus);
  pipeline_.reset();
}

void Runner::set_exit_code(int code) {
  if (exit_code_ == kExitOk) exit_code_ = code;
}

void Runner::say(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, args);
  va_end(args);
  console::error("%s", text);
}

int exit_code_for_error(const std::string &text) {
  // A refused join reads "CODE: message", CODE one of the protocol's error codes.
  const auto colon = text.find(':');
  if (colon != std::string::npos && proto::error_code_from_string(text.substr(0, colon)))
    return kExitRefused;
  // What the WebSocket signaller says when it cannot connect or trust the server.
  for (const char *network :
       {"cannot reach the signalling server", "TLS with the signalling server failed",
        "signalling server's TLS certificate", "cannot read the TLS authority file"})
    if (text.find(network) != std::string::npos) return kExitNetwork;
  return kExitError;
}

gboolean Runner::on_bus(GstBus *, GstMessage *msg, gpointer p) {
  auto *self = static_cast<Runner *>(p);
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR:
    if (self->failed_) break; // the first error says why; the rest follow from it
    self->failed_ = true;
    {
      g_autoptr(GError) err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      self->error_text_ = err ? err->message : "unknown error";
    }
    report_pipeline_error(self->cmd_.c_str(), msg, self->verbose_);
    self->set_exit_code(exit_code_for_error(self->error_text_));
    self->stop_ = Stop::error; // over any other reason: the run failed
    self->stop(Stop::error);
    break;
  case GST_MESSAGE_WARNING:
    // Elements may post the same warning at every buffer: print each one once.
    if (self->warned_.insert(describe_error(msg, false)).second)
      self->say("warning: %s", describe_error(msg, self->verbose_).c_str());
    break;
  case GST_MESSAGE_ELEMENT: {
    // A roomcast element is in its room again after a lost signalling connection (or after
    // joining again because its media stopped): say so, and print the warnings of the next
    // outage again.
    const GstStructure *s = gst_message_get_structure(msg);
    gboolean rejoin = FALSE;
    if (!s || !gst_structure_has_name(s, "roomcast-joined") ||
        !gst_structure_get_boolean(s, "rejoin", &rejoin))
      break;
    const char *id = gst_structure_get_string(s, "id");
    const char *room = gst_structure_get_string(s, "room");
    if (self->joined_) self->joined_(id ? id : "", rejoin);
    if (!rejoin) break;
    self->say("back in room '%s' as %s", room ? room : "?", id ? id : "?");
    self->warned_.clear();
    break;
  }
  case GST_MESSAGE_EOS:
    if (!self->stop_at_eos_) break;
    self->say("end of stream");
    self->stop(Stop::eos);
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

const char *exit_codes_help(HelpKind kind) {
  switch (kind) {
  case HelpKind::serve:
    return "Exit status:\n"
           "  0  stopped (Ctrl-C or SIGTERM)\n"
           "  1  error (the port is in use, a bad certificate...)\n"
           "  2  bad options";
  case HelpKind::live:
    return "Exit status:\n"
           "  0  stopped (Ctrl-C, SIGTERM, or the end of a --pipeline's stream)\n"
           "  1  error (pipeline, embedded server)\n"
           "  2  bad options\n"
           "  5  refused by the signalling server (token, room taken or full, bad name)\n"
           "  6  network: the signalling server cannot be reached or trusted (TLS)";
  case HelpKind::receive:
    break;
  }
  return "Exit status:\n"
         "  0  done: --frames reached, the --timeout run ended with pictures, or Ctrl-C\n"
         "  1  error (pipeline, embedded server)\n"
         "  2  bad options\n"
         "  3  --timeout passed before --frames was reached\n"
         "  4  --timeout passed and nobody to receive from came (no host; no other member)\n"
         "  5  refused by the signalling server (token, room full, bad name)\n"
         "  6  network: the signalling server cannot be reached or trusted (TLS)";
}

} // namespace roomcast::app
