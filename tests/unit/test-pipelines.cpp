// Every description in pipelines/ parses (every element exists, every link is possible on
// paper) and ends in a roomcastsink.
#include <gst/gst.h>

#include "gstroomcastsink.h"
#include "gstroomcastsrc.h"

#include <string>

static std::string load(const char *path) {
  g_autofree char *contents = nullptr;
  g_assert_true(g_file_get_contents(path, &contents, nullptr, nullptr));
  std::string out;
  g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
  for (char **l = lines; *l; l++) {
    g_strstrip(*l);
    if (**l == '#' || **l == '\0') continue;
    out += *l;
    out += ' ';
  }
  // ${VAR}: any path will do for parsing.
  for (size_t at; (at = out.find("${")) != std::string::npos;) {
    size_t end = out.find('}', at);
    g_assert_true(end != std::string::npos);
    out.replace(at, end - at + 1, "/dev/null");
  }
  return out;
}

static void test_one(gconstpointer data) {
  const char *path = static_cast<const char *>(data);
  std::string desc = load(path);
  g_autoptr(GError) err = nullptr;
  GstElement *p = gst_parse_launch_full(desc.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!p) g_error("%s: %s", path, err ? err->message : "?");
  g_assert_no_error(err);
  bool found = false;
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(p));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
    found |= GST_IS_ROOMCAST_SINK(g_value_get_object(&v));
    g_value_reset(&v);
  }
  g_value_unset(&v);
  gst_iterator_free(it);
  g_assert_true(found);
  gst_object_unref(p);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  gst_init(&argc, &argv);
  gst_element_register(nullptr, "roomcastsink", GST_RANK_NONE, GST_TYPE_ROOMCAST_SINK);
  gst_element_register(nullptr, "roomcastsrc", GST_RANK_NONE, GST_TYPE_ROOMCAST_SRC);
  const char *dir = g_getenv("ROOMCAST_PIPELINES_DIR");
  g_assert_nonnull(dir);
  g_autoptr(GDir) d = g_dir_open(dir, 0, nullptr);
  g_assert_nonnull(d);
  int n = 0;
  while (const char *name = g_dir_read_name(d)) {
    if (!g_str_has_suffix(name, ".pipeline")) continue;
    g_autofree char *test = g_strdup_printf("/pipelines/%s", name);
    g_test_add_data_func_full(test, g_build_filename(dir, name, nullptr), test_one, g_free);
    n++;
  }
  g_assert_cmpint(n, >=, 5);
  return g_test_run();
}
