// Table tests for src/common/ice-servers.h: ICE server URIs in both forms, TURN REST credentials
// (known answers computed independently with `openssl dgst -sha1 -hmac SECRET -binary | base64`),
// what a server hands out in its welcome, and what an element uses (its own settings against the
// room's). Each row is one case; a row that does not hold names itself in the failure.
#include "check-str.h"
#include "ice-servers.h"

#include <glib.h>

#include <optional>
#include <string>
#include <vector>

using namespace roomcast;
using ice::Form;
using ice::Uri;
using proto::IceScheme;

namespace {

void fail_row(const char *table, std::size_t row, const std::string &what) {
  g_autofree char *msg = g_strdup_printf("%s, row %zu: %s", table, row, what.c_str());
  g_assertion_message(nullptr, __FILE__, __LINE__, table, msg);
}

std::string show(const Uri &u) {
  return std::string(proto::to_string(u.scheme)) + " host=" + u.host +
         " port=" + std::to_string(u.port) + " transport=" + u.transport + " user=" + u.username +
         " pass=" + u.password;
}

// ---- parse_uri
// -----------------------------------------------------------------------------------

struct UriRow {
  const char *text;
  Form form;
  std::optional<Uri> want; // nullopt: refused
  const char *gst;         // gst_uri() of the result ("" when refused)
  const char *rtc;         // rtc_url() of the result
};

void test_parse_uri() {
  auto U = [](IceScheme s, const char *host, unsigned port, const char *transport = "",
              const char *user = "", const char *pass = "") {
    return std::optional<Uri>(Uri{s, host, port, transport, user, pass});
  };
  const std::optional<Uri> no;
  const UriRow rows[] = {
      // GStreamer's form, as on the command line
      {"stun://192.0.2.1:3478", Form::Any, U(IceScheme::Stun, "192.0.2.1", 3478),
       "stun://192.0.2.1:3478", "stun:192.0.2.1:3478"},
      {"stun://stun.example.org", Form::Any, U(IceScheme::Stun, "stun.example.org", 3478),
       "stun://stun.example.org:3478", "stun:stun.example.org:3478"},
      {"turn://ann:pw@192.0.2.1:3478", Form::Any,
       U(IceScheme::Turn, "192.0.2.1", 3478, "", "ann", "pw"), "turn://ann:pw@192.0.2.1:3478",
       "turn:192.0.2.1:3478"},
      {"turns://ann:pw@turn.example.org", Form::Any,
       U(IceScheme::Turns, "turn.example.org", 5349, "", "ann", "pw"),
       "turns://ann:pw@turn.example.org:5349", "turns:turn.example.org:5349"},
      {"turn://ann:pw@192.0.2.1:3478?transport=tcp", Form::Any,
       U(IceScheme::Turn, "192.0.2.1", 3478, "tcp", "ann", "pw"),
       "turn://ann:pw@192.0.2.1:3478?transport=tcp", "turn:192.0.2.1:3478?transport=tcp"},
      {"TURN://ann:pw@h:1?transport=UDP", Form::Any, U(IceScheme::Turn, "h", 1, "udp", "ann", "pw"),
       "turn://ann:pw@h:1?transport=udp", "turn:h:1?transport=udp"},
      {"stun://stun.example.org:3478/", Form::Any, U(IceScheme::Stun, "stun.example.org", 3478),
       "stun://stun.example.org:3478", "stun:stun.example.org:3478"},
      // percent-encoding: a REST user name's ':' and a password with '@', '/' and '+'
      {"turn://1700000000%3Ap1:a%40b%2Fc%2B@192.0.2.1:3478", Form::Any,
       U(IceScheme::Turn, "192.0.2.1", 3478, "", "1700000000:p1", "a@b/c+"),
       "turn://1700000000%3Ap1:a%40b%2Fc%2B@192.0.2.1:3478", "turn:192.0.2.1:3478"},
      // an empty password is a password; a password with ':' keeps it (the first ':' splits)
      {"turn://ann:@h:9", Form::Any, U(IceScheme::Turn, "h", 9, "", "ann", ""), "turn://ann:@h:9",
       "turn:h:9"},
      {"turn://ann:p:w@h:9", Form::Any, U(IceScheme::Turn, "h", 9, "", "ann", "p:w"),
       "turn://ann:p%3Aw@h:9", "turn:h:9"},
      // IPv6
      {"stun://[2001:db8::1]:3478", Form::Any, U(IceScheme::Stun, "2001:db8::1", 3478),
       "stun://[2001:db8::1]:3478", "stun:[2001:db8::1]:3478"},
      {"turn:[::1]?transport=tcp", Form::Rtc, U(IceScheme::Turn, "::1", 3478, "tcp"),
       "turn://[::1]:3478?transport=tcp", "turn:[::1]:3478?transport=tcp"},
      // RFC 7064/7065's form, as in welcome.ice_servers and RTCIceServer.urls
      {"stun:192.0.2.1:3478", Form::Rtc, U(IceScheme::Stun, "192.0.2.1", 3478),
       "stun://192.0.2.1:3478", "stun:192.0.2.1:3478"},
      {"turn:turn.example.org", Form::Rtc, U(IceScheme::Turn, "turn.example.org", 3478),
       "turn://turn.example.org:3478", "turn:turn.example.org:3478"},
      {"turns:192.0.2.1:443?transport=tcp", Form::Rtc, U(IceScheme::Turns, "192.0.2.1", 443, "tcp"),
       "turns://192.0.2.1:443?transport=tcp", "turns:192.0.2.1:443?transport=tcp"},
      {"turn:192.0.2.1", Form::Any, U(IceScheme::Turn, "192.0.2.1", 3478), "turn://192.0.2.1:3478",
       "turn:192.0.2.1:3478"},
      // refused
      {"", Form::Any, no, "", ""},
      {"192.0.2.1:3478", Form::Any, no, "", ""},
      {"http://192.0.2.1:3478", Form::Any, no, "", ""},
      {"stuns:192.0.2.1", Form::Any, no, "", ""},
      {"stun://", Form::Any, no, "", ""},
      {"stun://:3478", Form::Any, no, "", ""},
      {"stun://host:", Form::Any, no, "", ""},
      {"stun://host:0", Form::Any, no, "", ""},
      {"stun://host:65536", Form::Any, no, "", ""},
      {"stun://host:34x8", Form::Any, no, "", ""},
      {"stun://host:-1", Form::Any, no, "", ""},
      {"stun://host:1:2", Form::Any, no, "", ""},
      {"stun://ho st:1", Form::Any, no, "", ""},
      {"stun://host:1\n", Form::Any, no, "", ""},
      {"stun://h%41st:1", Form::Any, no, "", ""},
      {"stun://-host:1", Form::Any, no, "", ""},
      {"stun://[2001:db8::1:3478", Form::Any, no, "", ""},
      {"stun://[192.0.2.1]:3478", Form::Any, no, "", ""},
      {"stun://[2001:db8::1]x", Form::Any, no, "", ""},
      {"stun://user:pw@host:1", Form::Any, no, "", ""},       // STUN takes no credentials
      {"stun://host:1?transport=udp", Form::Any, no, "", ""}, // nor a transport
      {"turn://host:1?transport=tls", Form::Any, no, "", ""},
      {"turns://host:1?transport=udp", Form::Any, no, "", ""},
      {"turn://host:1?transport=", Form::Any, no, "", ""},
      {"turn://host:1?foo=bar", Form::Any, no, "", ""},
      {"turn://host:1?", Form::Any, no, "", ""},
      {"turn://host:1#frag", Form::Any, no, "", ""},
      {"turn://host:1/path", Form::Any, no, "", ""},
      {"turn://ann@host:1", Form::Any, no, "", ""},     // USER:PASSWORD, not USER alone
      {"turn://:pw@host:1", Form::Any, no, "", ""},     // an empty user name
      {"turn://a%zz:pw@host:1", Form::Any, no, "", ""}, // a bad escape
      {"turn://a%0a:pw@host:1", Form::Any, no, "", ""}, // a control character, escaped
      {"turn:ann:pw@host:1", Form::Any, no, "", ""},    // credentials only after //
      {"stun://192.0.2.1:3478", Form::Rtc, no, "", ""}, // the protocol's form has no //
      {"turn://a:b@192.0.2.1", Form::Rtc, no, "", ""},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const UriRow &r = rows[i];
    std::string why;
    auto got = ice::parse_uri(r.text, r.form, &why);
    if (bool(got) != bool(r.want)) {
      fail_row("parse_uri", i,
               std::string("'") + r.text + "': " +
                   (got ? "read as " + show(*got) + ", wanted it refused" : "refused: " + why));
      continue;
    }
    if (!got) {
      if (why.empty()) fail_row("parse_uri", i, std::string("'") + r.text + "': no reason given");
      continue;
    }
    if (!(*got == *r.want))
      fail_row("parse_uri", i,
               std::string("'") + r.text + "': " + show(*got) + ", wanted " + show(*r.want));
    if (ice::gst_uri(*got) != r.gst)
      fail_row("parse_uri", i, "gst_uri " + ice::gst_uri(*got) + ", wanted " + r.gst);
    if (ice::rtc_url(*got) != r.rtc)
      fail_row("parse_uri", i, "rtc_url " + ice::rtc_url(*got) + ", wanted " + r.rtc);
    // Both forms read back to the same server.
    auto again = ice::parse_uri(ice::gst_uri(*got));
    if (!again || !(*again == *got)) fail_row("parse_uri", i, "gst_uri does not read back");
    auto rtc = ice::parse_uri(ice::rtc_url(*got), Form::Rtc);
    Uri bare = *got;
    bare.username.clear();
    bare.password.clear();
    if (!rtc || !(*rtc == bare)) fail_row("parse_uri", i, "rtc_url does not read back");
  }
}

// ---- TURN REST credentials ---------------------------------------------------------------------

struct RestRow {
  std::string secret;
  std::int64_t expires;
  const char *id;
  const char *username;
  const char *credential; // openssl dgst -sha1 -hmac SECRET -binary | base64, of the user name
};

void test_turn_rest_credentials() {
  const RestRow rows[] = {
      {"secret", 1700000000, "p0b7d3f10", "1700000000:p0b7d3f10", "OyIc0yoF57Oj+rJ25P27kRYkqa0="},
      {"north-sea-42", 1767225600, "pA1", "1767225600:pA1", "hMcHCG/BAYXm2QrZW3Ig0gw/Oqs="},
      // no id: the expiry alone; a secret with spaces and UTF-8
      {"s3cr3t with spaces & \xc3\xbcn\xc3\xaf"
       "code",
       86400, "", "86400", "8eDTFKcxI3LGOHdFRR/YSiGphbI="},
      {"k", 0, "x", "0:x", "sYP7R3irr9nuvy+leeMBAAdv+tc="},
      // a secret longer than SHA-1's block (HMAC hashes the key first)
      {std::string(100, 'x'), 1700000000, "p1", "1700000000:p1", "u9tQffJIyZK51pkpT8gC7yWDTok="},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const RestRow &r = rows[i];
    auto c = ice::turn_rest_credentials(r.secret, r.expires, r.id);
    if (c.username != r.username)
      fail_row("turn_rest_credentials", i, "user name " + c.username + ", wanted " + r.username);
    if (c.credential != r.credential)
      fail_row("turn_rest_credentials", i,
               "credential " + c.credential + ", wanted " + r.credential);
  }
}

// ---- what serve hands out
// ------------------------------------------------------------------------

Uri uri(const char *text) {
  auto u = ice::parse_uri(text);
  if (!u) g_error("test URI %s does not parse", text);
  return *u;
}

struct SetupRow {
  const char *name;
  ice::ServerSetup setup;
  const char *problem;                // check_setup: nullptr when fine, else a word of the reason
  std::vector<proto::IceServer> want; // welcome_servers(setup, 1700000000, "p1")
};

std::string show(const std::vector<proto::IceServer> &v) {
  std::string out;
  for (const auto &e : v) {
    out += "{";
    for (const auto &u : e.urls)
      out += u + " ";
    out += "user=" + e.username + " cred=" + e.credential + "} ";
  }
  return out;
}

void test_server_setup() {
  const std::int64_t now = 1700000000;
  // secret "secret", expiry now + 600, id p1: 1700000600:p1
  const char *rest_cred = "H9VX9FiU9nkoJ8BZ9VnjKRxrlnQ=";
  const SetupRow rows[] = {
      {"nothing", {}, nullptr, {}},
      {"one STUN",
       {{uri("stun://192.0.2.1:3478")}, {}, "", 600},
       nullptr,
       {{{"stun:192.0.2.1:3478"}, "", ""}}},
      {"static TURN, one entry each",
       {{uri("stun://192.0.2.1")},
        {uri("turn://ann:pw@192.0.2.1:3478"), uri("turns://bo:x@turn.example.org?transport=tcp")},
        "",
        600},
       nullptr,
       {{{"stun:192.0.2.1:3478"}, "", ""},
        {{"turn:192.0.2.1:3478"}, "ann", "pw"},
        {{"turns:turn.example.org:5349?transport=tcp"}, "bo", "x"}}},
      {"secret: one entry, REST credentials for the client",
       {{},
        {uri("turn://192.0.2.1:3478"), uri("turn://192.0.2.1:3478?transport=tcp")},
        "secret",
        600},
       nullptr,
       {{{"turn:192.0.2.1:3478", "turn:192.0.2.1:3478?transport=tcp"},
         "1700000600:p1",
         rest_cred}}},
      {"TURN without credentials and no secret",
       {{}, {uri("turn://192.0.2.1")}, "", 600},
       "needs",
       {}},
      {"secret and credentials in the URI",
       {{}, {uri("turn://a:b@192.0.2.1")}, "secret", 600},
       "carry no",
       {}},
      {"a secret without TURN", {{uri("stun://h")}, {}, "secret", 600}, "needs --turn", {}},
      {"a TURN URI given as STUN", {{uri("turn://a:b@h")}, {}, "", 600}, "--stun", {}},
      {"a STUN URI given as TURN", {{}, {uri("stun://h")}, "", 600}, "--turn", {}},
      {"no lifetime", {{}, {uri("turn://h")}, "secret", 0}, "lifetime", {}},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const SetupRow &r = rows[i];
    std::string why;
    bool ok = ice::check_setup(r.setup, &why);
    if (ok != (r.problem == nullptr)) {
      fail_row("server setup", i,
               std::string(r.name) + (ok ? ": accepted, wanted refused" : ": refused: " + why));
      continue;
    }
    if (!ok) {
      if (why.find(r.problem) == std::string::npos)
        fail_row("server setup", i,
                 std::string(r.name) + ": reason '" + why + "' lacks '" + r.problem + "'");
      continue;
    }
    auto got = ice::welcome_servers(r.setup, now, "p1");
    if (got != r.want)
      fail_row("server setup", i,
               std::string(r.name) + ": " + show(got) + "wanted " + show(r.want));
    for (const auto &e : got) {
      std::string bad;
      if (!proto::valid_ice_server(e, &bad))
        fail_row("server setup", i, std::string(r.name) + ": invalid entry: " + bad);
    }
  }
  // The credential of the secret row is what openssl computes for 1700000600:p1.
  CHECK_STR(ice::turn_rest_credentials("secret", now + 600, "p1").credential, rest_cred);
  // More URIs than one entry holds are spread over entries of kMaxIceUrls.
  ice::ServerSetup many;
  for (int i = 0; i < 11; i++)
    many.stun.push_back(uri(("stun://h" + std::to_string(i)).c_str()));
  auto spread = ice::welcome_servers(many, now, "p1");
  g_assert_cmpuint(spread.size(), ==, 2);
  g_assert_cmpuint(spread[0].urls.size(), ==, proto::kMaxIceUrls);
  g_assert_cmpuint(spread[1].urls.size(), ==, 11 - proto::kMaxIceUrls);
}

// ---- what an element uses
// ------------------------------------------------------------------------

struct GstRow {
  const char *name;
  std::vector<proto::IceServer> room;
  ice::GstServers want;
  std::size_t skipped;
};

void test_gst_servers() {
  const GstRow rows[] = {
      {"none", {}, {}, 0},
      {"the first STUN only (webrtcbin takes one)",
       {{{"stun:192.0.2.1:3478", "stun:192.0.2.2"}, "", ""}, {{"stun:192.0.2.3"}, "", ""}},
       {"stun://192.0.2.1:3478", {}},
       0},
      {"TURN with the entry's credentials, percent-encoded",
       {{{"turn:192.0.2.1:3478", "turns:t.example.org?transport=tcp"}, "1700000600:p1", "a+b/c="}},
       {"",
        {"turn://1700000600%3Ap1:a%2Bb%2Fc%3D@192.0.2.1:3478",
         "turns://1700000600%3Ap1:a%2Bb%2Fc%3D@t.example.org:5349?transport=tcp"}},
       0},
      {"mixed entries, in order",
       {{{"stun:s"}, "", ""}, {{"turn:a"}, "u1", "p1"}, {{"turn:b?transport=tcp"}, "u2", "p2"}},
       {"stun://s:3478", {"turn://u1:p1@a:3478", "turn://u2:p2@b:3478?transport=tcp"}},
       0},
      {"unusable URLs are skipped",
       {{{"turn:a", "bogus:x", "stun://s:1"}, "", ""}, {{"turn:b"}, "u", "p"}},
       {"", {"turn://u:p@b:3478"}},
       3},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const GstRow &r = rows[i];
    std::vector<std::string> skipped;
    auto got = ice::gst_servers(r.room, &skipped);
    if (!(got == r.want))
      fail_row("gst_servers", i,
               std::string(r.name) + ": stun " + got.stun + ", turn " + ice::join_list(got.turn));
    if (skipped.size() != r.skipped)
      fail_row("gst_servers", i,
               std::string(r.name) + ": skipped " + std::to_string(skipped.size()));
  }
}

struct ChoiceRow {
  const char *name;
  std::string own_stun;
  std::vector<std::string> own_turn;
  ice::GstServers room, want;
};

void test_choose_servers() {
  const ice::GstServers room{"stun://room:3478", {"turn://r:p@room:3478"}};
  const ChoiceRow rows[] = {
      {"nothing of our own: the room's", "", {}, room, room},
      {"nothing anywhere", "", {}, {}, {}},
      {"our STUN replaces the room's STUN only",
       "stun://own:1",
       {},
       room,
       {"stun://own:1", {"turn://r:p@room:3478"}}},
      {"our TURN list replaces the room's TURN only",
       "",
       {"turn://a:b@own:1", "turns://c:d@own2"},
       room,
       {"stun://room:3478", {"turn://a:b@own:1", "turns://c:d@own2:5349"}}},
      {"both of ours",
       "stun:own",
       {"turn://a:b@own"},
       room,
       {"stun://own:3478", {"turn://a:b@own:3478"}}},
      {"ours without a room list", "stun://own:1", {}, {}, {"stun://own:1", {}}},
      {"an unreadable own URI is passed on as given",
       "",
       {"turn://a:b@ho!st"},
       room,
       {"stun://room:3478", {"turn://a:b@ho!st"}}},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    const ChoiceRow &r = rows[i];
    auto got = ice::choose_servers(r.own_stun, r.own_turn, r.room);
    if (!(got == r.want))
      fail_row("choose_servers", i,
               std::string(r.name) + ": stun " + got.stun + ", turn " + ice::join_list(got.turn) +
                   "; wanted stun " + r.want.stun + ", turn " + ice::join_list(r.want.turn));
  }
}

void test_lists() {
  struct Row {
    const char *text;
    std::vector<std::string> want;
  } rows[] = {
      {"", {}},
      {"   ", {}},
      {"turn://a:b@h", {"turn://a:b@h"}},
      {" turn://a:b@h \t turns://c:d@g\n", {"turn://a:b@h", "turns://c:d@g"}},
  };
  for (std::size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    if (ice::split_list(rows[i].text) != rows[i].want)
      fail_row("split_list", i, std::string("'") + rows[i].text + "'");
    CHECK_STR(ice::join_list(ice::split_list(ice::join_list(rows[i].want))),
              ice::join_list(rows[i].want));
  }
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/ice/parse-uri", test_parse_uri);
  g_test_add_func("/ice/turn-rest-credentials", test_turn_rest_credentials);
  g_test_add_func("/ice/server-setup", test_server_setup);
  g_test_add_func("/ice/gst-servers", test_gst_servers);
  g_test_add_func("/ice/choose-servers", test_choose_servers);
  g_test_add_func("/ice/lists", test_lists);
  return g_test_run();
}
