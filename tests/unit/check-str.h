// String equality for GLib tests that keeps temporaries alive for the comparison
// (g_assert_cmpstr would not), shared by the unit tests.
#pragma once

#include <glib.h>

#include <string>

inline void check_str(const std::string &got, const std::string &want, const char *file, int line,
                      const char *expr) {
  if (got == want) return;
  g_autofree char *msg =
      g_strdup_printf("%s is \"%s\", wanted \"%s\"", expr, got.c_str(), want.c_str());
  g_assertion_message(nullptr, file, line, "", msg);
}
#define CHECK_STR(got, want) check_str((got), (want), __FILE__, __LINE__, #got)
