// Room tokens (src/common/token.*) and certificate pins (src/common/tls-pin.*), table-tested.
// The expected values were computed beforehand with the openssl command line, not with this code:
//   b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
//   printf '%s' "$DATA" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url
// with SECRET=roomcast-test-secret-0123456789, and for RFC 7515 appendix A.1 with its key as
// `-mac HMAC -macopt hexkey:…` (the result is the RFC's published signature).
#include "check-str.h"
#include "tls-pin.h"
#include "token.h"

#include <glib.h>

#include <cstring>
#include <string>

using namespace roomcast;
using proto::Role;
using token::Fault;

namespace {

constexpr const char *kSecret = "roomcast-test-secret-0123456789";
constexpr const char *kHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

void test_base64url() {
  const struct {
    std::string raw, encoded;
  } rows[] = {
      {"", ""},
      {"f", "Zg"},
      {"fo", "Zm8"},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
      {"\xfb\xff\xbf", "-_-_"}, // the two characters that differ from base64
      {R"({"alg":"HS256","typ":"JWT"})", kHeader},
  };
  for (const auto &r : rows) {
    CHECK_STR(token::base64url_encode(r.raw), r.encoded);
    auto back = token::base64url_decode(r.encoded);
    g_assert_true(back.has_value());
    g_assert_true(*back == r.raw);
  }
  // Only the canonical unpadded alphabet.
  for (const char *bad : {"Zg==", "Zm9v+", "Zm9v/", "Z", "Zm9vY", "Zh", "Zm9 v", "Zm9v\n", "é"}) {
    g_test_message("not base64url: '%s'", bad);
    g_assert_false(token::base64url_decode(bad).has_value());
  }
}

void test_hs256_known_answers() {
  const struct {
    const char *secret, *data, *mac;
  } rows[] = {
      {kSecret, "", "49mPbfc1O5nvtwQtAkhKfamfg4hqL7qt5GLEDFEbmlc"},
      {kSecret, "abc", "64gtmMoxMH0_0zc9VTDcnquyoyRWDzARrM4TSv0qDsE"},
      {kSecret, "The quick brown fox jumps over the lazy dog",
       "uAxo8-spjK4elQH5q-CAYB6zoM6_Al_umoFWxliyWe4"},
  };
  for (const auto &r : rows)
    CHECK_STR(token::hs256(r.secret, r.data), r.mac);

  // RFC 7515, appendix A.1: the JWK key "AyM1Sys…" and its signing input.
  auto key = token::base64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3"
                                     "Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  g_assert_true(key.has_value());
  const std::string input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                            "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLm"
                            "NvbS9pc19yb290Ijp0cnVlfQ";
  CHECK_STR(token::hs256(*key, input), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  // A token from another issuer is checked over the bytes it came with: the signature passes
  // (its claims are not ours, so it is still refused, as malformed).
  auto v = token::verify(input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", *key, "demo",
                         Role::Host, 1300819000);
  g_assert_true(v.fault == Fault::Malformed);
  v = token::verify(input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", *key, "demo",
                    Role::Host, 1300819000);
  g_assert_true(v.fault == Fault::Signature);
}

void test_sign_known_answers() {
  const struct {
    token::Claims claims;
    const char *token;
  } rows[] = {
      {{"demo", Role::Host, 1700000000, 1700003600},
       "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
       "eyJyb29tIjoiZGVtbyIsInJvbGUiOiJob3N0IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
       "SuFwVUQIPtlPoDB97TyLVplAsIb3ukEYQ3t6F1Yx0Qo"},
      {{"stage-2", Role::Viewer, 1800000000, 1800086400},
       "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
       "eyJyb29tIjoic3RhZ2UtMiIsInJvbGUiOiJ2aWV3ZXIiLCJpYXQiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDA4NjQwMH0"
       "."
       "FTFzhT8v51hl5Z8Uis-T4sL03HgNMIf0pwXn7Q5s-jM"},
  };
  for (const auto &r : rows) {
    CHECK_STR(token::sign(r.claims, kSecret), r.token);
    auto v = token::verify(r.token, kSecret, r.claims.room, r.claims.role, r.claims.iat + 10);
    g_assert_true(static_cast<bool>(v));
    g_assert_true(v.claims == r.claims);
  }
}

void test_verify() {
  const std::string demo_host = token::sign({"demo", Role::Host, 1000, 2000}, kSecret);
  // Made elsewhere (openssl): other header order, other claim order, a claim we do not know.
  const std::string foreign =
      "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
      "eyJleHAiOjE4MDAwODY0MDAsInJvbGUiOiJ2aWV3ZXIiLCJyb29tIjoic3RhZ2UtMiIsInN1YiI6ImFubiJ9."
      "tAGB5FDfIQo6CQQaRoqvPByuExxyHgjV20ks6aL9cYo";
  // HS512 over the same claims, a valid signature of another algorithm (openssl).
  const std::string hs512 =
      "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
      "eyJyb29tIjoiZGVtbyIsInJvbGUiOiJob3N0IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
      "9lwPPp9HAKipYtY_bpOHjJfOSP1za4Pe1KiXWDdoHdiYMfJZr0-ME3i3DsWnK813_0DpSWv9rekOP9j3CJJdXw";
  const std::string payload =
      demo_host.substr(demo_host.find('.') + 1, demo_host.rfind('.') - demo_host.find('.') - 1);
  const std::string sig = demo_host.substr(demo_host.rfind('.') + 1);
  // The same claims for another room, with the demo token's signature.
  const std::string swapped =
      std::string(kHeader) + "." +
      token::base64url_encode(R"({"room":"other","role":"host","iat":1000,"exp":2000})") + "." +
      sig;
  const std::string unsigned_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".";
  const std::string no_exp =
      std::string(kHeader) + "." + token::base64url_encode(R"({"room":"demo","role":"host"})");
  const std::string no_exp_token = no_exp + "." + token::hs256(kSecret, no_exp);
  const std::string nbf_part =
      std::string(kHeader) + "." +
      token::base64url_encode(R"({"room":"demo","role":"host","nbf":5000,"exp":9000})");
  const std::string nbf_token = nbf_part + "." + token::hs256(kSecret, nbf_part);
  // Signed times at the ends of int64 (found by tests/fuzz/fuzz-token.cpp: `exp + skew`
  // overflowed).
  const std::string forever = token::sign({"demo", Role::Host, 0, G_MAXINT64}, kSecret);
  const std::string big_bang = token::sign({"demo", Role::Host, 0, G_MININT64 + 1}, kSecret);

  const struct {
    const char *what;
    std::string token, secret, room;
    Role role;
    gint64 now;
    std::optional<Fault> want;
  } rows[] = {
      {"valid", demo_host, kSecret, "demo", Role::Host, 1500, std::nullopt},
      {"at expiry", demo_host, kSecret, "demo", Role::Host, 2000, std::nullopt},
      {"within the skew", demo_host, kSecret, "demo", Role::Host, 2060, std::nullopt},
      {"expired", demo_host, kSecret, "demo", Role::Host, 2061, Fault::Expired},
      {"another room", demo_host, kSecret, "demo2", Role::Host, 1500, Fault::Room},
      {"another role", demo_host, kSecret, "demo", Role::Viewer, 1500, Fault::Role},
      {"host token as member", demo_host, kSecret, "demo", Role::Member, 1500, Fault::Role},
      {"another secret", demo_host, "another-secret-0123456789", "demo", Role::Host, 1500,
       Fault::Signature},
      {"claims swapped under a signature", swapped, kSecret, "other", Role::Host, 1500,
       Fault::Signature},
      {"alg none", unsigned_none, kSecret, "demo", Role::Host, 1500, Fault::Algorithm},
      {"alg HS512", hs512, kSecret, "demo", Role::Host, 1700000001, Fault::Algorithm},
      {"foreign but ours", foreign, kSecret, "stage-2", Role::Viewer, 1800000000, std::nullopt},
      {"no expiry", no_exp_token, kSecret, "demo", Role::Host, 1500, Fault::Malformed},
      {"not yet valid", nbf_token, kSecret, "demo", Role::Host, 4000, Fault::NotYetValid},
      {"valid from nbf", nbf_token, kSecret, "demo", Role::Host, 5000, std::nullopt},
      {"expires at the end of int64", forever, kSecret, "demo", Role::Host, 1500, std::nullopt},
      {"expired at the start of int64", big_bang, kSecret, "demo", Role::Host, 1500,
       Fault::Expired},
      {"two parts", demo_host.substr(0, demo_host.rfind('.')), kSecret, "demo", Role::Host, 1500,
       Fault::Malformed},
      {"four parts", demo_host + ".x", kSecret, "demo", Role::Host, 1500, Fault::Malformed},
      {"empty", "", kSecret, "demo", Role::Host, 1500, Fault::Malformed},
      {"dots only", "..", kSecret, "demo", Role::Host, 1500, Fault::Malformed},
      {"bad base64", "e$J.e$J.sig", kSecret, "demo", Role::Host, 1500, Fault::Malformed},
      {"signature cut", demo_host.substr(0, demo_host.size() - 1), kSecret, "demo", Role::Host,
       1500, Fault::Signature},
  };
  for (const auto &r : rows) {
    auto v = token::verify(r.token, r.secret, r.room, r.role, r.now);
    g_test_message("%s: %s", r.what, v ? "accepted" : v.why.c_str());
    if (v.fault != r.want)
      g_error("%s: got fault %d (%s), wanted %d", r.what, v.fault ? int(*v.fault) : -1,
              v.why.c_str(), r.want ? int(*r.want) : -1);
    g_assert_true(v ? v.why.empty() : !v.why.empty());
  }
  // The words people read.
  auto v = token::verify(demo_host, kSecret, "demo", Role::Host, 2000 + 3600);
  g_assert_nonnull(strstr(v.why.c_str(), "expired 60 min ago"));
  v = token::verify(demo_host, kSecret, "demo", Role::Viewer, 1500);
  CHECK_STR(v.why, "it is for role host, not viewer");
}

// The optional claims: jti (the token's id) and max (most peers with it at once).
void test_id_and_max_claims() {
  token::Claims c{"demo", Role::Viewer, 1000, 2000};
  c.jti = "abc";
  c.max_joins = 5;
  const std::string t = token::sign(c, kSecret);
  const std::string payload = t.substr(t.find('.') + 1, t.rfind('.') - t.find('.') - 1);
  CHECK_STR(*token::base64url_decode(payload),
            R"({"room":"demo","role":"viewer","iat":1000,"exp":2000,"jti":"abc","max":5})");
  auto v = token::verify(t, kSecret, "demo", Role::Viewer, 1500);
  g_assert_true(static_cast<bool>(v));
  g_assert_true(v.claims == c);
  // Identity: the id when there is one (two tokens with one id are one), else the signature.
  CHECK_STR(token::identity(t, v.claims), "jti:abc");
  CHECK_STR(token::log_name(t, v.claims), "jti=abc");
  token::Claims plain{"demo", Role::Viewer, 1000, 2000};
  const std::string p = token::sign(plain, kSecret);
  CHECK_STR(token::identity(p, plain), "sig:" + p.substr(p.rfind('.') + 1));
  const std::string name = token::log_name(p, plain);
  g_assert_true(g_str_has_prefix(name.c_str(), "sig#") && name.size() == 16);
  g_assert_true(name.find(p.substr(p.rfind('.') + 1, 8)) == std::string::npos);
  // Present means well-formed: a max that is not 1..kMaxJoinsClaim, an id that is not a
  // non-empty string, make the token malformed (never "no limit").
  for (const char *claims : {R"({"room":"demo","role":"viewer","exp":2000,"max":0})",
                             R"({"room":"demo","role":"viewer","exp":2000,"max":-4})",
                             R"({"room":"demo","role":"viewer","exp":2000,"max":"5"})",
                             R"({"room":"demo","role":"viewer","exp":2000,"max":1.5})",
                             R"({"room":"demo","role":"viewer","exp":2000,"max":1000001})",
                             R"({"room":"demo","role":"viewer","exp":2000,"jti":""})",
                             R"({"room":"demo","role":"viewer","exp":2000,"jti":7})"}) {
    const std::string part = std::string(kHeader) + "." + token::base64url_encode(claims);
    auto bad = token::verify(part + "." + token::hs256(kSecret, part), kSecret, "demo",
                             Role::Viewer, 1500);
    g_test_message("%s: %s", claims, bad ? "accepted" : bad.why.c_str());
    g_assert_true(bad.fault == Fault::Malformed);
  }
}

void test_durations() {
  const struct {
    const char *text;
    std::optional<gint64> seconds;
  } rows[] = {
      {"90", 90},
      {"90s", 90},
      {"15m", 900},
      {"12h", 43200},
      {"7d", 604800},
      {"3650d", 315360000},
      {"0", std::nullopt},
      {"", std::nullopt},
      {"h", std::nullopt},
      {"-5", std::nullopt},
      {"1.5h", std::nullopt},
      {"5w", std::nullopt},
      {"3651d", std::nullopt},
      {"99999999999999", std::nullopt},
      {" 5", std::nullopt},
  };
  for (const auto &r : rows) {
    g_test_message("'%s'", r.text);
    g_assert_true(token::parse_duration(r.text) == r.seconds);
  }
}

void test_pins() {
  // The SHA-256 of "abc" (FIPS 180-2), as a fingerprint.
  const std::string abc_fp = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:"
                             "7A:9C:B4:10:FF:61:F2:00:15:AD";
  CHECK_STR(tls::sha256_fingerprint(reinterpret_cast<const guint8 *>("abc"), 3), abc_fp);
  const struct {
    const char *pin;
    bool ok;
  } rows[] = {
      {"BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:"
       "15:AD",
       true},
      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", true},
      {"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", true},
      {"SHA256/BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", true},
      {"ba 78 16 bf 8f 01 cf ea 41 41 40 de 5d ae 22 23 b0 03 61 a3 96 17 7a 9c b4 10 ff 61 f2 00 "
       "15 ad",
       true},
      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", false}, // 63 digits
      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adz", false},
      {"", false},
      {"md5:ba7816bf8f01cfea414140de5dae2223", false},
  };
  for (const auto &r : rows) {
    g_test_message("pin '%s'", r.pin);
    auto p = tls::normalize_pin(r.pin);
    g_assert_true(p.has_value() == r.ok);
    if (p) CHECK_STR(*p, abc_fp);
  }
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/token/base64url", test_base64url);
  g_test_add_func("/token/hs256-known-answers", test_hs256_known_answers);
  g_test_add_func("/token/sign-known-answers", test_sign_known_answers);
  g_test_add_func("/token/verify", test_verify);
  g_test_add_func("/token/id-and-max-claims", test_id_and_max_claims);
  g_test_add_func("/token/durations", test_durations);
  g_test_add_func("/tls/pins", test_pins);
  return g_test_run();
}
