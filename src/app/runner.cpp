#include "runner.h"

#include "app.h"

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
  g_printerr("%sroomcast %s: %s\n", status_line_ ? "\n" : "", cmd_.c_str(), text);
}

gboolean Runner::on_bus(GstBus *, GstMessage *msg, gpointer p) {
  auto *self = static_cast<Runner *>(p);
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR:
    if (self->failed_) break; // the first error says why; the rest follow from it
    self->failed_ = true;
    if (self->status_line_) g_printerr("\n");
    report_pipeline_error(self->cmd_.c_str(), msg, self->verbose_);
    self->set_exit_code(kExitError);
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
        !gst_structure_get_boolean(s, "rejoin", &rejoin) || !rejoin)
      break;
    const char *id = gst_structure_get_string(s, "id");
    const char *room = gst_structure_get_string(s, "room");
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

const char *exit_codes_help(bool with_timeout) {
  return with_timeout
             ? "Exit status: 0 done (or stopped by Ctrl-C/SIGTERM), 1 error, 2 bad options, "
               "3 --timeout passed before --frames was reached."
             : "Exit status: 0 stopped (Ctrl-C/SIGTERM or end of stream), 1 error, 2 bad "
               "options.";
}

} // namespace roomcast::app
