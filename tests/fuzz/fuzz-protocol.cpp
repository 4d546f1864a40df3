// Fuzz target: the protocol parser (src/common/protocol.cpp), which the server runs on every
// WebSocket message from anyone. Beyond "no crash, no leak, no undefined behaviour":
// - a refusal carries a code of the table and a message, and the message is valid UTF-8; an
//   accepted message leaves no error message;
// - an accepted message satisfies the validators its fields are documented with;
// - it serialises to valid UTF-8 JSON with no raw control characters, which parses back to an
//   equal message, and serialising that gives the same text (a fixed point).
#include "fuzz-check.h"
#include "protocol.h"

#include <glib.h>

#include <string>

using namespace roomcast;
namespace p = roomcast::proto;

namespace {

bool utf8(std::string_view s) {
  return g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr);
}

// The fields parse() promises for an accepted message.
bool fields_valid(const p::Message &m) {
  return std::visit(p::overloaded{
                        [](const p::Join &j) {
                          return j.version == p::kVersion && p::valid_room_name(j.room) &&
                                 p::valid_peer_name(j.name) && p::valid_token_text(j.token);
                        },
                        [](const p::Ice &i) {
                          return i.mline_index >= 0 && i.mline_index <= int(p::kMaxMlineIndex) &&
                                 (!i.to.empty() || !i.from.empty());
                        },
                        [](const p::Bye &b) {
                          return p::valid_text(b.message, p::kMaxByeMessage) &&
                                 (!b.to.empty() || !b.from.empty());
                        },
                        [](const p::Prefer &m) {
                          const bool layer = m.layer >= 0 && m.layer <= int(p::kMaxPreferLayer);
                          const bool height =
                              m.max_height >= 1 && m.max_height <= int(p::kMaxPreferHeight);
                          return (layer ? m.max_height == -1 : height && m.layer == -1) &&
                                 (!m.to.empty() || !m.from.empty());
                        },
                        [](const p::Welcome &w) {
                          if (!p::valid_peer_id(w.id) || w.ping_interval_s > 86400) return false;
                          for (const auto &peer : w.peers)
                            if (!p::valid_peer_id(peer.id) || !p::valid_peer_name(peer.name))
                              return false;
                          if (w.ice_servers.size() > p::kMaxIceServers) return false;
                          for (const auto &s : w.ice_servers)
                            if (!p::valid_ice_server(s)) return false;
                          return true;
                        },
                        [](const p::PeerJoined &j) {
                          return p::valid_peer_id(j.peer.id) && p::valid_peer_name(j.peer.name);
                        },
                        [](const p::PeerLeft &l) { return p::valid_peer_id(l.id); },
                        [](const auto &m) {
                          if constexpr (std::is_base_of_v<p::Relay, std::decay_t<decltype(m)>>)
                            return !m.to.empty() || !m.from.empty();
                          else
                            return true;
                        },
                    },
                    m);
}

bool no_raw_controls(std::string_view json) {
  for (unsigned char c : json)
    if (c < 0x20) return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  p::ParseError err;
  auto m = p::parse(input, err);
  if (!m) {
    FUZZ_CHECK(static_cast<std::size_t>(err.code) < p::spec::kErrors.size());
    FUZZ_CHECK(!err.message.empty() && utf8(err.message));
    return 0;
  }
  FUZZ_CHECK(err.message.empty()); // never both accepted and an error
  FUZZ_CHECK(fields_valid(*m));
  if (const p::Relay *r = p::relay_of(*m)) {
    FUZZ_CHECK(r->to.empty() || p::valid_peer_id(r->to));
    FUZZ_CHECK(r->from.empty() || p::valid_peer_id(r->from));
  }
  const std::string text = p::serialize(*m);
  FUZZ_CHECK(utf8(text));
  FUZZ_CHECK(no_raw_controls(text));
  p::ParseError err2;
  auto again = p::parse(text, err2);
  if (!again) std::fprintf(stderr, "re-parse of %s: %s\n", text.c_str(), err2.message.c_str());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == *m);
  FUZZ_CHECK(p::serialize(*again) == text);
  return 0;
}
