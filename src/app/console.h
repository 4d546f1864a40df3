// The terminal side of the commands: event lines and a status line on one stream (stdout).
//
// Event lines ("roomcast live: viewer pc27315bd joined") are printed above the status line. On a
// terminal the status line is redrawn in place (and erased before anything else is written, on
// stdout or stderr, then drawn again below it); elsewhere (a pipe, a file) it is printed as a
// plain line now and then. Every write goes through one lock, so lines from streaming threads,
// GLib's log and g_printerr never cut into each other or into the status line.
#pragma once

#include <glib.h>

#include <string>

namespace roomcast::app::console {

// Sets the command's name for the prefix ("roomcast CMD: "), whether stdout is a terminal, and
// routes g_print, g_printerr and GLib's log writer through the lock.
void init(const char *cmd);
// Whether the status line is drawn in place (stdout is a terminal that is not "dumb").
bool tty();
// "roomcast CMD: " + text, as a line on stdout.
void event(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
// A line as it is (JSON) on stdout.
void line(const std::string &text);
// "roomcast CMD: " + text, as a line on stderr.
void error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
// The status line: redrawn in place on a terminal (cut to its width); otherwise printed as
// "roomcast CMD: status: TEXT" at most every plain_interval() seconds.
void status(const std::string &text);
// Erases the status line (on a terminal) and forgets it; the next status() draws it again.
void clear_status();
// Seconds between two plain status lines (5; ROOMCAST_STATUS_INTERVAL overrides it).
double plain_interval();

} // namespace roomcast::app::console
