// Fuzz target: the room-token verifier (src/common/token.cpp), which the server runs on the token
// field of any join. The first byte picks what the rest of the input is:
//   0: a whole token, as a stranger sends it;
//   1: the claims (JSON) of a token that the harness signs with the server's secret, so that the
//      claim checks behind the signature are reached;
//   2: the header (JSON) of such a signed token, with valid claims.
// Invariants beyond "no crash, no undefined behaviour" (UBSan: integer overflow on extreme times):
// - an accepted token is signed with the secret, for the room and role asked, and not expired;
//   a refusal says why;
// - base64url decoding accepts only canonical text (decode then encode gives the same text), and
//   encoding round-trips any bytes;
// - parse_duration() gives a positive number of seconds up to ten years.
#include "fuzz-check.h"
#include "token.h"

#include <glib.h>

#include <string>

using namespace roomcast;
namespace p = roomcast::proto;

namespace {

constexpr std::string_view kSecret = "0123456789abcdef-fuzz";
constexpr std::string_view kRoom = "demo";
constexpr gint64 kNow = 1'700'000'000;

std::string signed_token(std::string_view header_json, std::string_view claims_json) {
  const std::string part =
      token::base64url_encode(header_json) + "." + token::base64url_encode(claims_json);
  return part + "." + token::hs256(kSecret, part);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  if (input.empty()) return 0;
  const std::string_view rest = input.substr(1);
  std::string tok;
  const unsigned mode = static_cast<unsigned char>(input[0]) % 3;
  switch (mode) {
  case 0:
    tok = std::string(rest);
    break;
  case 1:
    tok = signed_token(R"({"alg":"HS256","typ":"JWT"})", rest);
    break;
  default:
    tok = signed_token(rest, R"({"room":"demo","role":"host","iat":1700000000,"exp":1700003600})");
    break;
  }
  for (p::Role role : {p::Role::Host, p::Role::Viewer}) {
    const token::Verdict v = token::verify(tok, kSecret, kRoom, role, kNow);
    if (v) {
      FUZZ_CHECK(v.why.empty()); // never both accepted and a reason to refuse
      FUZZ_CHECK(v.claims.room == kRoom && v.claims.role == role);
      FUZZ_CHECK(v.claims.exp >= kNow - 60);
      const std::size_t dot = tok.rfind('.');
      FUZZ_CHECK(dot != std::string::npos &&
                 token::hs256(kSecret, std::string_view(tok).substr(0, dot)) ==
                     tok.substr(dot + 1));
    } else {
      FUZZ_CHECK(!v.why.empty());
      if (mode != 0) FUZZ_CHECK(*v.fault != token::Fault::Signature);
    }
  }

  if (auto raw = token::base64url_decode(rest)) FUZZ_CHECK(token::base64url_encode(*raw) == rest);
  FUZZ_CHECK(token::base64url_decode(token::base64url_encode(rest)) == std::string(rest));
  if (auto d = token::parse_duration(rest)) FUZZ_CHECK(*d > 0 && *d <= gint64(10) * 365 * 86400);
  return 0;
}
