// The text of what a JsonBuilder built (compact, one line): messages, tokens, JSON reports.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

namespace roomcast {

inline std::string json_text(JsonBuilder *builder) {
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, nullptr);
  return text;
}

} // namespace roomcast
