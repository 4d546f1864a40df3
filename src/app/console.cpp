#include "console.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace roomcast::app::console {

namespace {

struct State {
  // Recursive: GLib's log writer may be called while a line is being written (a warning from
  // g_printerr's conversion, say). Lock order: this lock, then stdio's own stream locks.
  std::recursive_mutex lock;
  std::string prefix = "roomcast: ";
  bool tty = false;
  std::string status; // the status line's text, "" when there is none
  bool drawn = false; // the status line is on the screen now
  gint64 last_plain_us = 0;
  double interval_s = 5;
};

State &state() {
  static State *s = new State; // never destroyed: threads may still print at exit
  return *s;
}

int columns() {
  struct winsize ws {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// (locked) Takes the status line off the screen.
void erase(State &s) {
  if (!s.drawn) return;
  fputs("\r\033[K", stdout);
  fflush(stdout);
  s.drawn = false;
}

// (locked) Draws the status line, cut to the terminal's width: a line that wrapped could not be
// redrawn in place ("\r" goes back to the start of the last row only).
void draw(State &s) {
  if (!s.tty || s.status.empty()) return;
  std::string text = s.status;
  const size_t width = static_cast<size_t>(columns()) - 1;
  if (g_utf8_strlen(text.c_str(), -1) > static_cast<glong>(width)) {
    const char *end = g_utf8_offset_to_pointer(text.c_str(), static_cast<glong>(width));
    text.resize(static_cast<size_t>(end - text.c_str()));
  }
  fputs("\r\033[K", stdout);
  fputs(text.c_str(), stdout);
  fflush(stdout);
  s.drawn = true;
}

void write_out(FILE *stream, const std::string &text) {
  State &s = state();
  std::lock_guard l(s.lock);
  erase(s);
  fputs(text.c_str(), stream);
  fflush(stream);
  draw(s);
}

// One line, with the command's prefix: event() and error() differ only in the stream.
void write_prefixed(FILE *stream, const char *fmt, va_list args) {
  g_autofree char *text = g_strdup_vprintf(fmt, args);
  write_out(stream, state().prefix + text + "\n");
}

GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer) {
  State &s = state();
  std::lock_guard l(s.lock);
  erase(s);
  fflush(stdout);
  GLogWriterOutput out = g_log_writer_default(level, fields, n, nullptr);
  draw(s);
  return out;
}

} // namespace

void init(const char *cmd) {
  State &s = state();
  {
    std::lock_guard l(s.lock);
    s.prefix = std::string("roomcast ") + cmd + ": ";
    const char *term = g_getenv("TERM");
    s.tty = isatty(STDOUT_FILENO) && g_strcmp0(term, "dumb") != 0;
    if (const char *v = g_getenv("ROOMCAST_STATUS_INTERVAL")) {
      double d = g_ascii_strtod(v, nullptr);
      if (d > 0) s.interval_s = d;
    }
  }
  g_set_print_handler([](const char *text) { write_out(stdout, text); });
  g_set_printerr_handler([](const char *text) { write_out(stderr, text); });
  g_log_set_writer_func(log_writer, nullptr, nullptr);
}

bool tty() {
  return state().tty;
}

double plain_interval() {
  return state().interval_s;
}

void event(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  write_prefixed(stdout, fmt, args);
  va_end(args);
}

void line(const std::string &text) {
  write_out(stdout, text + "\n");
}

void error(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  write_prefixed(stderr, fmt, args);
  va_end(args);
}

void status(const std::string &text) {
  State &s = state();
  std::lock_guard l(s.lock);
  if (s.tty) {
    s.status = text;
    draw(s);
    return;
  }
  const gint64 now = g_get_monotonic_time();
  if (s.last_plain_us && now - s.last_plain_us < gint64(s.interval_s * G_USEC_PER_SEC) - 100000)
    return;
  s.last_plain_us = now;
  fprintf(stdout, "%sstatus: %s\n", s.prefix.c_str(), text.c_str());
  fflush(stdout);
}

void clear_status() {
  State &s = state();
  std::lock_guard l(s.lock);
  erase(s);
  s.status.clear();
}

} // namespace roomcast::app::console
