// The run of one command (live, watch, meet, serve): its main loop, its pipeline's bus, SIGINT,
// SIGTERM and SIGUSR1, an optional timeout, and the exit code. What a command does with its
// media stays in its own cmd-*.cpp.
#pragma once

#include <glib.h>
#include <gst/gst.h>

#include "gref.h"

#include <atomic>
#include <functional>
#include <set>
#include <string>

namespace roomcast::app {

// Exit codes of the commands (each command's --help lists the ones it uses; README, "Exit
// status").
enum ExitCode : int {
  kExitOk = 0,       // done, or stopped by Ctrl-C / SIGTERM / end of stream
  kExitError = 1,    // a pipeline or server error (printed)
  kExitUsage = 2,    // bad options
  kExitTimedOut = 3, // --timeout passed before --frames was reached
  kExitNoHost = 4,   // --timeout passed and nobody to receive from ever came (no host, no member)
  kExitRefused = 5,  // the signalling server refused to let us in (token, room full, taken...)
  kExitNetwork = 6,  // the signalling server cannot be reached, or not trusted (TLS)
};

// The exit code for an error posted by a roomcast element: refused, network or plain error.
int exit_code_for_error(const std::string &text);

class Runner {
public:
  // Why run() returned.
  enum class Stop { none, quit, signal, timeout, eos, error };

  // `cmd` names the command in messages ("roomcast CMD: ..."); `verbose` adds debug strings.
  Runner(const char *cmd, bool verbose);
  ~Runner();
  Runner(const Runner &) = delete;
  Runner &operator=(const Runner &) = delete;

  // Watches the pipeline's bus (and keeps a ref): the first error is printed as one message and
  // stops the run with kExitError (later ones follow from it and are not printed); each distinct
  // warning is printed once (until a roomcast element says it is back in its room after a lost
  // signalling connection: that is printed as a line of its own, and the next outage's warnings
  // are printed again); end of stream stops the run (unless told otherwise below).
  void watch(GstElement *pipeline);
  // Whether the pipeline's end of stream stops the run (default). A viewer's pipeline ends when
  // its host leaves, and goes on when one comes back: watch and meet keep running.
  void set_stop_at_end_of_stream(bool stop) { stop_at_eos_ = stop; }
  // Stops the run after `seconds` (0: never).
  void set_timeout(int seconds);
  // Calls `fn` on the main loop at each SIGUSR1 (without a hook, SIGUSR1 keeps its default).
  void on_usr1(std::function<void()> fn);
  // Called on the main loop each time a roomcast element is in its room (`rejoin`: again,
  // after a lost signalling connection or a media timeout).
  void on_joined(std::function<void(const std::string &id, bool rejoin)> fn) {
    joined_ = std::move(fn);
  }
  // The first error's text ("" when there was none).
  const std::string &error_text() const { return error_text_; }

  // Sets the pipeline PLAYING. False, after printing why, if it could not start.
  bool start();
  // Runs the main loop until quit(), SIGINT/SIGTERM, the timeout, end of stream or an error.
  Stop run();
  // Ends run() with Stop::quit. Any thread; before run() it makes run() return at once.
  void quit() { stop(Stop::quit); }
  // Pipeline to NULL, bus watch removed (the destructor does it too).
  void stop_pipeline();

  // The first non-zero code set wins (an error sets kExitError).
  void set_exit_code(int code);
  int exit_code() const { return exit_code_; }

private:
  // Prints "roomcast CMD: " + the formatted text on stderr (on a line of its own).
  void say(const char *fmt, ...) G_GNUC_PRINTF(2, 3);
  void stop(Stop why);
  static gboolean on_bus(GstBus *, GstMessage *msg, gpointer self);

  std::string cmd_;
  bool verbose_ = false;
  bool stop_at_eos_ = true;
  GMainLoop *loop_ = nullptr;
  GRef<GstElement> pipeline_; // with a bus watch while set
  std::atomic<Stop> stop_{Stop::none};
  int exit_code_ = kExitOk;
  bool failed_ = false;          // an error was reported
  std::set<std::string> warned_; // warnings printed so far
  std::function<void()> usr1_;
  std::function<void(const std::string &, bool)> joined_;
  std::string error_text_;
  guint sigint_ = 0, sigterm_ = 0, sigusr1_ = 0, timer_ = 0;
};

// What a command's --help says about its exit codes: which ones, by kind of command.
enum class HelpKind { serve, live, receive /* watch, meet: --timeout and --frames */ };
const char *exit_codes_help(HelpKind kind);

} // namespace roomcast::app
