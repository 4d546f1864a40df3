// Deployment security against the real `roomcast serve` process (docs/architecture.md,
// "Deployment security"): room tokens and adversarial clients, TLS (self-signed with a pin, and a
// CA-signed certificate made with openssl), Origin and Host checks, security headers, the web
// root's symlinks, unfinished requests, /metrics. Every test starts its own server.
#include "token.h"
#include "ws-client.h"

#include <glib/gstdio.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace roomcast::test;
using roomcast::proto::ErrorCode;
using roomcast::proto::Role;
namespace proto = roomcast::proto;

namespace {

const std::string kSecret = "test-secret-0123456789abcdef";
const std::string kSecretEnv = "ROOMCAST_TOKEN_SECRET=" + kSecret;

// Runs the roomcast binary with `args` (and `env`); returns its exit status, stdout and stderr.
// A run longer than 20 s fails the test (and the process is killed).
struct Run {
  int status = -1;
  std::string out, err;
};
Run run_roomcast(const std::vector<std::string> &args, const std::vector<std::string> &env = {}) {
  std::vector<const char *> argv{g_getenv("ROOMCAST_BIN")};
  for (const auto &a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
      GSubprocessFlags(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE));
  for (const auto &e : env) {
    auto eq = e.find('=');
    g_subprocess_launcher_setenv(launcher, e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), TRUE);
  }
  g_autoptr(GError) error = nullptr;
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv(launcher, argv.data(), &error);
  if (!proc) TEST_FAIL("cannot run roomcast: %s", error->message);
  struct Result {
    bool done = false;
    char *out = nullptr, *err = nullptr;
  };
  auto res = std::make_shared<Result>();
  g_subprocess_communicate_utf8_async(
      proc, nullptr, nullptr,
      [](GObject *src, GAsyncResult *r, gpointer p) {
        std::unique_ptr<std::shared_ptr<Result>> h(static_cast<std::shared_ptr<Result> *>(p));
        g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), r, &(*h)->out, &(*h)->err, nullptr);
        (*h)->done = true;
      },
      new std::shared_ptr<Result>(res));
  if (!iterate_until([&] { return res->done; }, 20000)) {
    g_subprocess_force_exit(proc);
    iterate_until([&] { return res->done; }, 5000);
    TEST_FAIL("roomcast %s did not end within 20 s", args.empty() ? "" : args[0].c_str());
  }
  g_subprocess_wait(proc, nullptr, nullptr);
  Run r;
  r.status = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
  r.out = res->out ? res->out : "";
  r.err = res->err ? res->err : "";
  g_free(res->out);
  g_free(res->err);
  return r;
}

// A token from `roomcast token` (the real command, with the secret in its environment).
std::string issue(const char *room, const char *role, const char *ttl = "1h",
                  const std::string &secret_env = kSecretEnv) {
  Run r = run_roomcast({"token", "--room", room, "--role", role, "--ttl", ttl}, {secret_env});
  TEST_CHECK(r.status == 0, "roomcast token failed (%d): %s", r.status, r.err.c_str());
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r'))
    t.pop_back();
  TEST_CHECK(std::count(t.begin(), t.end(), '.') == 2, "not a token: %s", t.c_str());
  return t;
}

proto::Error join_refused(WsClient &c, const char *room, Role role, const std::string &token,
                          ErrorCode want) {
  c.send(proto::make_join(room, role, "", token));
  proto::Error e = c.expect_error(want);
  TEST_CHECK(e.ref == "join", "%s", e.ref.c_str());
  return e;
}

// ---- /metrics: Prometheus text format -----------------------------------------------------------

// Parses the exposition format strictly enough to catch what a scraper refuses: every sample
// line is NAME{LABELS} VALUE of a family declared by # TYPE before it; returns the samples.
std::map<std::string, double> parse_metrics(const std::string &text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  GRegex *sample_rx = g_regex_new(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? (-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?)$)",
      G_REGEX_DEFAULT, G_REGEX_MATCH_DEFAULT, nullptr);
  g_auto(GStrv) lines = g_strsplit(text.c_str(), "\n", -1);
  TEST_CHECK(!text.empty() && text.back() == '\n', "the text must end with a newline");
  for (char **l = lines; *l; l++) {
    std::string line = *l;
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      g_auto(GStrv) parts = g_strsplit(line.c_str() + 7, " ", 2);
      TEST_CHECK(parts[0] && parts[1], "%s", line.c_str());
      const std::string type = parts[1];
      TEST_CHECK(type == "gauge" || type == "counter", "%s", line.c_str());
      TEST_CHECK(!types.contains(parts[0]), "family declared twice: %s", line.c_str());
      types[parts[0]] = type;
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0 || line[0] == '#') continue;
    GMatchInfo *mi = nullptr;
    if (!g_regex_match(sample_rx, line.c_str(), G_REGEX_MATCH_DEFAULT, &mi)) {
      g_match_info_free(mi);
      TEST_FAIL("not a sample line: '%s'", line.c_str());
    }
    g_autofree char *name = g_match_info_fetch(mi, 1);
    g_autofree char *value = g_match_info_fetch(mi, 4);
    g_match_info_free(mi);
    TEST_CHECK(types.contains(name), "sample of an undeclared family: %s", line.c_str());
    if (types[name] == "counter")
      TEST_CHECK(g_str_has_suffix(name, "_total"), "counter without _total: %s", name);
    std::string key = line.substr(0, line.rfind(' '));
    TEST_CHECK(!samples.contains(key), "sample twice: %s", key.c_str());
    samples[key] = g_ascii_strtod(value, nullptr);
  }
  g_regex_unref(sample_rx);
  return samples;
}

std::map<std::string, double> metrics(const ServerProcess &srv) {
  HttpReply r = http_get(srv.http_url("/metrics"));
  TEST_CHECK(r.status == 200, "/metrics: %u %s", r.status, r.error.c_str());
  TEST_CHECK(g_str_has_prefix(r.content_type.c_str(), "text/plain"), "%s", r.content_type.c_str());
  return parse_metrics(r.body);
}

double at(const std::map<std::string, double> &m, const std::string &key) {
  auto it = m.find(key);
  if (it == m.end()) TEST_FAIL("/metrics has no %s", key.c_str());
  return it->second;
}

// ---- room tokens --------------------------------------------------------------------------------

// With a secret, hosts and members need a token by default: a squatter cannot take a room in any
// way, a tokenless viewer cannot decide a room's kind, and the owner gets in.
void test_tokens_squatter() {
  ServerProcess srv({}, {kSecretEnv});
  const std::string host_token = issue("stage", "host");
  const std::string viewer_token = issue("stage", "viewer");
  const std::string other_room = issue("other", "host");
  const std::string expired =
      roomcast::token::sign({"stage", Role::Host, 1000, 2000}, kSecret); // 1970: long expired
  const std::string forged =
      roomcast::token::sign({"stage", Role::Host, 1000, 4000000000}, "not-the-server-secret-xyz");

  WsClient squatter("squatter");
  squatter.connect(srv.ws_url());
  // Every way in without the host's token is refused, with a code that says why.
  join_refused(squatter, "stage", Role::Host, "", ErrorCode::TokenRequired);
  join_refused(squatter, "stage", Role::Member, "", ErrorCode::TokenRequired);
  auto e = join_refused(squatter, "stage", Role::Host, viewer_token, ErrorCode::BadToken);
  TEST_CHECK(strstr(e.message.c_str(), "role viewer"), "%s", e.message.c_str());
  e = join_refused(squatter, "stage", Role::Host, other_room, ErrorCode::BadToken);
  TEST_CHECK(strstr(e.message.c_str(), "room 'other'"), "%s", e.message.c_str());
  e = join_refused(squatter, "stage", Role::Host, expired, ErrorCode::BadToken);
  TEST_CHECK(strstr(e.message.c_str(), "expired"), "%s", e.message.c_str());
  e = join_refused(squatter, "stage", Role::Host, forged, ErrorCode::BadToken);
  TEST_CHECK(strstr(e.message.c_str(), "signature"), "%s", e.message.c_str());
  join_refused(squatter, "stage", Role::Host, "garbage", ErrorCode::BadToken);
  join_refused(squatter, "stage", Role::Member, host_token, ErrorCode::BadToken);
  // A viewer without a token cannot open the room (and so make it live before its owner).
  join_refused(squatter, "stage", Role::Viewer, "", ErrorCode::RoomNotOpen);
  squatter.expect_nothing("(refusals only)");

  // The owner gets in; the room is live now and viewers without tokens may watch.
  WsClient host("host"), viewer("viewer");
  host.connect(srv.ws_url());
  host.send(proto::make_join("stage", Role::Host, "Stage", host_token));
  auto w = host.expect_type<proto::Welcome>();
  TEST_CHECK(w.role == Role::Host && w.kind == proto::RoomKind::Live);
  viewer.connect(srv.ws_url());
  viewer.join("stage", Role::Viewer);
  host.expect_peer_joined(viewer.id());
  // The squatter watches at most: it sees the host, never the viewers, and cannot host.
  squatter.join("stage", Role::Viewer);
  host.expect_peer_joined(squatter.id());
  squatter.send(proto::make_simple(proto::Type::Leave));
  host.expect_peer_left(squatter.id());
  // Even with the host's own token, a second host is refused while the first is there.
  squatter.send(proto::make_join("stage", Role::Host, "", host_token));
  squatter.expect_error(ErrorCode::HostTaken);
  viewer.expect_nothing();
  host.expect_nothing();

  // Tokens in a link: a viewer token from `roomcast token --link`.
  Run r = run_roomcast(
      {"token", "--room", "stage", "--role", "viewer", "--link", srv.http_url("/")}, {kSecretEnv});
  TEST_CHECK(r.status == 0, "%s", r.err.c_str());
  TEST_CHECK(
      g_str_has_prefix(r.out.c_str(), (srv.http_url("/room/stage?role=viewer&token=")).c_str()),
      "%s", r.out.c_str());
  TEST_CHECK(r.out.find("viewer_token=") == std::string::npos, "%s", r.out.c_str());
  // A host's link also carries a viewer token for the room (the page's "Copy viewer link").
  r = run_roomcast({"token", "--room", "stage", "--role", "host", "--link", srv.http_url("/")},
                   {kSecretEnv});
  TEST_CHECK(r.status == 0, "%s", r.err.c_str());
  const std::string prefix = srv.http_url("/room/stage?role=host&token=");
  TEST_CHECK(g_str_has_prefix(r.out.c_str(), prefix.c_str()), "%s", r.out.c_str());
  const auto vt = r.out.find("&viewer_token=");
  TEST_CHECK(vt != std::string::npos, "%s", r.out.c_str());
  std::string link_viewer_token = r.out.substr(vt + 14);
  while (!link_viewer_token.empty() && g_ascii_isspace(link_viewer_token.back()))
    link_viewer_token.pop_back();
  const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  TEST_CHECK(roomcast::token::verify(link_viewer_token, kSecret, "stage", Role::Viewer, now), "%s",
             link_viewer_token.c_str());
  TEST_CHECK(!roomcast::token::verify(link_viewer_token, kSecret, "stage", Role::Host, now));
}

// --require-token all: nobody without a token; tokens for the right role and room do.
void test_tokens_all() {
  ServerProcess srv({"--require-token", "all"}, {kSecretEnv});
  WsClient v("viewer"), m("member");
  v.connect(srv.ws_url());
  m.connect(srv.ws_url());
  join_refused(v, "talk", Role::Viewer, "", ErrorCode::TokenRequired);
  join_refused(m, "talk", Role::Member, "", ErrorCode::TokenRequired);
  m.send(proto::make_join("talk", Role::Member, "", issue("talk", "member")));
  m.expect_type<proto::Welcome>();
  join_refused(v, "talk", Role::Member, issue("talk", "viewer"), ErrorCode::BadToken);
  m.expect_nothing();
}

// The secret comes from a file or the environment, never argv; options that cannot work stop the
// server at once with a message.
void test_token_options() {
  Run r = run_roomcast({"serve", "--port", "0", "--require-token", "all"});
  TEST_CHECK(r.status != 0 && strstr(r.err.c_str(), "needs a token secret"), "%d %s", r.status,
             r.err.c_str());
  r = run_roomcast({"serve", "--port", "0", "--token-secret", kSecret});
  TEST_CHECK(r.status == 2, "a secret on the command line must be refused (%d)", r.status);
  r = run_roomcast({"serve", "--port", "0"}, {"ROOMCAST_TOKEN_SECRET=short"});
  TEST_CHECK(r.status != 0 && strstr(r.err.c_str(), "at least"), "%d %s", r.status, r.err.c_str());
  r = run_roomcast({"token", "--room", "a", "--role", "host"}, {"ROOMCAST_TOKEN_SECRET="});
  TEST_CHECK(r.status == 1 && strstr(r.err.c_str(), "no secret"), "%d %s", r.status, r.err.c_str());
  r = run_roomcast({"token", "--room", "a", "--role", "admin"}, {kSecretEnv});
  TEST_CHECK(r.status == 2, "%d", r.status);
  r = run_roomcast({"token", "--room", "a", "--role", "host", "--ttl", "-1"}, {kSecretEnv});
  TEST_CHECK(r.status == 2, "%d", r.status);
  // The secret from a file (one trailing newline is not part of it).
  g_autofree char *dir = g_dir_make_tmp("roomcast-secret-XXXXXX", nullptr);
  g_autofree char *file = g_build_filename(dir, "secret", nullptr);
  TEST_CHECK(g_file_set_contents(file, (kSecret + "\n").c_str(), -1, nullptr));
  g_chmod(file, 0600);
  r = run_roomcast({"token", "--room", "a", "--role", "host", "--token-secret-file", file});
  TEST_CHECK(r.status == 0, "%s", r.err.c_str());
  std::string t = r.out.substr(0, r.out.find('\n'));
  TEST_CHECK(static_cast<bool>(roomcast::token::verify(t, kSecret, "a", Role::Host,
                                                       g_get_real_time() / G_USEC_PER_SEC)),
             "%s", t.c_str());
  g_remove(file);
  g_rmdir(dir);
}

// ---- browsers: Origin, Host, headers ------------------------------------------------------------

void test_origin() {
  ServerProcess srv({"--allowed-origin", "https://app.example"});
  const std::string own = "http://127.0.0.1:" + std::to_string(srv.port());
  struct Row {
    const char *origin;
    bool ok;
  };
  const Row rows[] = {
      {"", true}, // native clients send none
      {nullptr, true},
      {"http://evil.example", false},
      {"null", false},
      {"file://", false},
      {"https://app.example", true},
      {"http://app.example", false},
      {"http://127.0.0.1:1", false},
  };
  for (const Row &r : rows) {
    std::string origin = r.origin ? r.origin : own;
    WsClient c(std::string("origin ") + (origin.empty() ? "(none)" : origin));
    c.origin = origin;
    std::string error;
    bool ok = c.try_connect(srv.ws_url(), error);
    g_test_message("Origin '%s': %s", origin.c_str(), ok ? "accepted" : error.c_str());
    TEST_CHECK(ok == r.ok, "Origin '%s': %s", origin.c_str(), ok ? "accepted" : error.c_str());
    if (ok) c.join("o", Role::Viewer);
  }
  // The refusal is an HTTP answer before any upgrade.
  std::string upgrade = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n";
  HttpReply r = raw_http(srv.port(), upgrade + "Origin: http://evil.example\r\n\r\n");
  TEST_CHECK(r.status == 403, "%u %s", r.status, r.error.c_str());
  r = raw_http(srv.port(), upgrade + "Origin: " + own + "\r\n\r\n");
  TEST_CHECK(r.status == 101, "%u %s", r.status, r.error.c_str());
  auto m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"origin-not-allowed\"}") == 6, "%g",
             at(m, "roomcast_refusals_total{code=\"origin-not-allowed\"}"));
}

void test_host_and_headers() {
  ServerProcess srv({"--allowed-host", "roomcast.test"});
  const std::string port = std::to_string(srv.port());
  auto get = [&](const std::string &host) {
    return raw_http(srv.port(), "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  };
  for (const std::string &h :
       {"127.0.0.1:" + port, "localhost:" + port, "roomcast.test:" + port, "[::1]:" + port}) {
    HttpReply r = get(h);
    TEST_CHECK(r.status == 200, "Host %s: %u", h.c_str(), r.status);
  }
  for (const std::string &h :
       {"evil.example:" + port, std::string("roomcast.test.evil.example"), std::string("a b")}) {
    HttpReply r = get(h);
    TEST_CHECK(r.status == 421 || r.status == 400, "Host %s: %u", h.c_str(), r.status);
    TEST_CHECK(r.body.find("<html") == std::string::npos, "Host %s served the page", h.c_str());
  }
  // A WebSocket for a foreign host name is refused as well.
  WsClient c("rebound");
  std::string error;
  HttpReply up = raw_http(srv.port(), "GET /ws HTTP/1.1\r\nHost: evil.example:" + port +
                                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n\r\n");
  TEST_CHECK(up.status == 421, "%u", up.status);

  // Security headers on pages, files and errors; no HSTS without TLS.
  for (const char *path : {"/", "/room/x", "/room.js", "/healthz", "/nothing-here"}) {
    HttpReply r = raw_http(srv.port(), std::string("GET ") + path +
                                           " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n");
    g_test_message("%s: %u", path, r.status);
    std::string csp = r.header("Content-Security-Policy");
    TEST_CHECK(strstr(csp.c_str(), "default-src 'none'") &&
                   strstr(csp.c_str(), "frame-ancestors 'none'") &&
                   strstr(csp.c_str(), "script-src 'self'"),
               "%s: CSP '%s'", path, csp.c_str());
    TEST_CHECK(r.header("X-Content-Type-Options") == "nosniff", "%s", path);
    TEST_CHECK(r.header("Referrer-Policy") == "no-referrer", "%s", path);
    TEST_CHECK(r.header("X-Frame-Options") == "DENY", "%s", path);
    TEST_CHECK(r.header("Strict-Transport-Security").empty(), "%s", path);
  }
}

// --web-root: a symlink may point within the root, never out of it; no hidden file is served.
void test_web_root_symlinks() {
  g_autofree char *tmp = g_dir_make_tmp("roomcast-webroot-XXXXXX", nullptr);
  g_autofree char *web = g_build_filename(tmp, "web", nullptr);
  g_autofree char *sub = g_build_filename(web, "sub", nullptr);
  g_autofree char *outside = g_build_filename(tmp, "outside", nullptr);
  g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
  g_assert_cmpint(g_mkdir(outside, 0700), ==, 0);
  auto put = [](const char *dir, const char *name, const char *text) {
    g_autofree char *f = g_build_filename(dir, name, nullptr);
    g_assert_true(g_file_set_contents(f, text, -1, nullptr));
  };
  put(web, "index.html", "<html>index</html>");
  put(sub, "inner.txt", "INNER");
  put(sub, ".hidden", "HIDDEN"); // hidden files at any depth are not served (web::route)
  put(outside, "secret.txt", "TOP-SECRET");
  auto link = [&](const char *target, const char *name) {
    g_autofree char *l = g_build_filename(web, name, nullptr);
    g_assert_cmpint(symlink(target, l), ==, 0);
  };
  g_autofree char *secret = g_build_filename(outside, "secret.txt", nullptr);
  link(secret, "leak.txt");                   // absolute, out
  link("../outside/secret.txt", "leak2.txt"); // relative, out
  link(outside, "outdir");                    // a folder, out
  link("/etc/passwd", "passwd");              // system file
  link("sub/inner.txt", "inner-link.txt");    // within the root: fine
  {
    ServerProcess srv({"--web-root", web});
    for (const char *path : {"/leak.txt", "/leak2.txt", "/outdir/secret.txt", "/passwd"}) {
      HttpReply r = raw_http_get(srv.port(), path);
      g_test_message("GET %s -> %u", path, r.status);
      TEST_CHECK(r.status == 404, "GET %s: %u", path, r.status);
      TEST_CHECK(r.body.find("TOP-SECRET") == std::string::npos &&
                     r.body.find("root:") == std::string::npos,
                 "GET %s leaked: %s", path, r.body.c_str());
    }
    // libsoup decodes "%2e" before the server sees the path.
    for (const char *path : {"/sub/.hidden", "/sub/%2ehidden", "/sub/./.hidden"}) {
      HttpReply r = raw_http_get(srv.port(), path);
      TEST_CHECK(r.status == 404 && r.body.find("HIDDEN") == std::string::npos, "GET %s: %u %s",
                 path, r.status, r.body.c_str());
    }
    HttpReply r = raw_http_get(srv.port(), "/inner-link.txt");
    TEST_CHECK(r.status == 200 && r.body == "INNER", "%u %s", r.status, r.body.c_str());
    r = raw_http_get(srv.port(), "/sub/inner.txt");
    TEST_CHECK(r.status == 200 && r.body == "INNER", "%u %s", r.status, r.body.c_str());
  }
  for (const char *n :
       {"leak.txt", "leak2.txt", "outdir", "passwd", "inner-link.txt", "index.html"}) {
    g_autofree char *f = g_build_filename(web, n, nullptr);
    g_remove(f);
  }
  g_autofree char *inner = g_build_filename(sub, "inner.txt", nullptr);
  g_remove(inner);
  g_autofree char *hidden = g_build_filename(sub, ".hidden", nullptr);
  g_remove(hidden);
  g_remove(secret);
  g_rmdir(sub);
  g_rmdir(web);
  g_rmdir(outside);
  g_rmdir(tmp);
}

// ---- TLS ----------------------------------------------------------------------------------------

// --tls self-signed: wss with the printed fingerprint pinned; another pin is refused; HSTS.
void test_tls_self_signed() {
  ServerProcess srv({"--tls", "self-signed"});
  TEST_CHECK(srv.tls() && g_str_has_prefix(srv.ws_url().c_str(), "wss://"), "%s",
             srv.ws_url().c_str());
  TEST_CHECK(srv.fingerprint().size() == 95, "fingerprint '%s'", srv.fingerprint().c_str());
  WsClient a("pinned host"), b("pinned viewer");
  a.tls_pin = b.tls_pin = srv.fingerprint();
  a.connect(srv.ws_url());
  b.connect(srv.ws_url());
  a.join("secure", Role::Host);
  b.join("secure", Role::Viewer);
  a.expect_peer_joined(b.id());
  // A wrong pin: refused at the handshake.
  WsClient wrong("wrong pin");
  std::string other = srv.fingerprint();
  other[0] = other[0] == 'A' ? 'B' : 'A';
  wrong.tls_pin = other;
  std::string error;
  TEST_CHECK(!wrong.try_connect(srv.ws_url(), error), "a wrong pin was accepted");
  g_test_message("wrong pin: %s", error.c_str());
  // No pin and no authority: the system does not trust a self-signed certificate.
  WsClient untrusted("no pin");
  TEST_CHECK(!untrusted.try_connect(srv.ws_url(), error), "an unknown certificate was accepted");
  // Plain HTTP on the TLS port is no way around it.
  HttpReply plain = raw_http(srv.port(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 3);
  TEST_CHECK(plain.status == 0, "plain HTTP answered %u on the TLS port", plain.status);
  a.expect_nothing();
}

// A CA made with openssl signs the server's certificate (--tls-cert/--tls-key); a client with
// that CA connects, one without it does not.
void test_tls_ca() {
  if (!g_find_program_in_path("openssl")) {
    g_test_skip("openssl is not installed");
    return;
  }
  g_autofree char *dir = g_dir_make_tmp("roomcast-ca-XXXXXX", nullptr);
  auto path = [&](const char *n) { return std::string(dir) + "/" + n; };
  {
    std::string ext = path("ext.cnf");
    g_file_set_contents(ext.c_str(),
                        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
                        -1, nullptr);
  }
  const std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj",
       "/CN=roomcast test CA"},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=127.0.0.1"},
      {"openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey",
       path("ca.key"), "-CAcreateserial", "-out", path("server.pem"), "-days", "2", "-extfile",
       path("ext.cnf")},
  };
  for (const auto &step : steps) {
    std::vector<const char *> argv;
    for (const auto &a : step)
      argv.push_back(a.c_str());
    argv.push_back(nullptr);
    int status = 0;
    g_autofree char *err = nullptr;
    TEST_CHECK(g_spawn_sync(nullptr, const_cast<char **>(argv.data()), nullptr,
                            GSpawnFlags(G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL), nullptr,
                            nullptr, nullptr, &err, &status, nullptr) &&
                   g_spawn_check_wait_status(status, nullptr),
               "%s failed: %s", step[1].c_str(), err);
  }
  {
    ServerProcess srv({"--tls-cert", path("server.pem"), "--tls-key", path("server.key")});
    TEST_CHECK(srv.tls(), "not TLS");
    WsClient ok("with the CA");
    ok.tls_ca_file = path("ca.pem");
    ok.connect(srv.ws_url());
    ok.join("ca", Role::Host);
    WsClient no("without it");
    std::string error;
    TEST_CHECK(!no.try_connect(srv.ws_url(), error), "accepted without the CA");
  }
  // A key that does not belong to the certificate: the server refuses to start, naming the files.
  Run r = run_roomcast(
      {"serve", "--port", "0", "--tls-cert", path("server.pem"), "--tls-key", path("ca.key")});
  TEST_CHECK(r.status != 0 && strstr(r.err.c_str(), "server.pem"), "%d %s", r.status,
             r.err.c_str());
  r = run_roomcast({"serve", "--port", "0", "--tls-cert", path("server.pem")});
  TEST_CHECK(r.status != 0 && strstr(r.err.c_str(), "--tls-key"), "%d %s", r.status, r.err.c_str());
  for (const char *n :
       {"ca.key", "ca.pem", "ca.srl", "server.key", "server.csr", "server.pem", "ext.cnf"})
    g_remove(path(n).c_str());
  g_rmdir(dir);
}

// ---- connections --------------------------------------------------------------------------------

// A request that never finishes is closed after --http-timeout and does not keep its slot.
void test_half_open_timeout() {
  ServerProcess srv({"--http-timeout", "2"});
  g_autoptr(GSocketClient) client = g_socket_client_new();
  std::vector<GSocketConnection *> half;
  for (int i = 0; i < 5; i++) {
    GSocketConnection *c = g_socket_client_connect_to_host(
        client, "127.0.0.1", static_cast<guint16>(srv.port()), nullptr, nullptr);
    TEST_CHECK(c);
    const char part[] = "GET / HTTP/1.1\r\nHost: 127.0";
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(c)), part, sizeof part - 1,
                              nullptr, nullptr, nullptr);
    half.push_back(c);
  }
  spin(500);
  TEST_CHECK(at(metrics(srv), "roomcast_connections") >= 5);
  const gint64 start = g_get_monotonic_time();
  for (GSocketConnection *c : half) {
    // The server closes it: the read ends (EOF) without an answer, within the timeout + 1 s tick.
    GSocket *s = g_socket_connection_get_socket(c);
    g_socket_set_timeout(s, 5);
    char buf[64];
    gssize n = g_socket_receive(s, buf, sizeof buf, nullptr, nullptr);
    TEST_CHECK(n <= 0, "the server answered a half-open request");
    g_object_unref(c);
  }
  double waited = (g_get_monotonic_time() - start) / 1e6;
  g_test_message("half-open requests closed after %.1f s more", waited);
  TEST_CHECK(waited < 4.0, "%.1f s", waited);
  auto m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_http_timeouts_total") == 5, "%g",
             at(m, "roomcast_http_timeouts_total"));
  // (the /metrics request itself is the only connection left)
  TEST_CHECK(at(m, "roomcast_connections") <= 1, "%g", at(m, "roomcast_connections"));
}

// When every TCP slot is taken by unfinished requests, a new client still gets in: the oldest
// unfinished request makes room (--max-connections 1: 1 + 64 TCP connections in all).
void test_half_open_cannot_lock_out() {
  ServerProcess srv({"--max-connections", "1"});
  g_autoptr(GSocketClient) client = g_socket_client_new();
  std::vector<GSocketConnection *> half;
  for (int i = 0; i < 80; i++) {
    GSocketConnection *c = g_socket_client_connect_to_host(
        client, "127.0.0.1", static_cast<guint16>(srv.port()), nullptr, nullptr);
    TEST_CHECK(c);
    half.push_back(c);
  }
  spin(300);
  WsClient real("real client");
  real.connect(srv.ws_url(), 3000);
  real.join("in", Role::Host);
  auto m = metrics(srv);
  g_test_message("shed %g", at(m, "roomcast_connections_shed_total"));
  TEST_CHECK(at(m, "roomcast_connections_shed_total") >= 16, "%g",
             at(m, "roomcast_connections_shed_total"));
  TEST_CHECK(at(m, "roomcast_connections") <= 65, "%g", at(m, "roomcast_connections"));
  for (GSocketConnection *c : half)
    g_object_unref(c);
}

// ---- /metrics -----------------------------------------------------------------------------------

void test_metrics() {
  ServerProcess srv;
  auto m0 = metrics(srv);
  for (const char *k :
       {"roomcast_rooms", "roomcast_websockets", "roomcast_joins_total", "roomcast_leaves_total",
        "roomcast_messages_relayed_total", "roomcast_peers{role=\"host\"}",
        "roomcast_peers{role=\"viewer\"}", "roomcast_peers{role=\"member\"}",
        "roomcast_refusals_total{code=\"host-taken\"}",
        "roomcast_refusals_total{code=\"token-required\"}", "roomcast_connections_accepted_total"})
    TEST_CHECK(at(m0, k) == 0 || g_str_has_prefix(k, "roomcast_connections"), "%s = %g", k,
               at(m0, k));
  WsClient h("host"), v("viewer"), x("second host");
  h.connect(srv.ws_url());
  v.connect(srv.ws_url());
  x.connect(srv.ws_url());
  h.join("m", Role::Host);
  v.join("m", Role::Viewer);
  h.expect_peer_joined(v.id());
  x.send(proto::make_join("m", Role::Host));
  x.expect_error(ErrorCode::HostTaken);
  h.send(proto::make_sdp(proto::Type::Offer, v.id(), "v=0"));
  v.expect_type<proto::Offer>();
  auto m1 = metrics(srv);
  TEST_CHECK(at(m1, "roomcast_rooms") == 1);
  TEST_CHECK(at(m1, "roomcast_peers{role=\"host\"}") == 1);
  TEST_CHECK(at(m1, "roomcast_peers{role=\"viewer\"}") == 1);
  TEST_CHECK(at(m1, "roomcast_websockets") == 3);
  TEST_CHECK(at(m1, "roomcast_joins_total") == 2);
  TEST_CHECK(at(m1, "roomcast_messages_relayed_total") == 1);
  TEST_CHECK(at(m1, "roomcast_refusals_total{code=\"host-taken\"}") == 1);
  TEST_CHECK(at(m1, "roomcast_connections_accepted_total") >=
             at(m0, "roomcast_connections_accepted_total") + 3);
  v.close();
  h.expect_peer_left(v.id());
  auto m2 = metrics(srv);
  TEST_CHECK(at(m2, "roomcast_leaves_total") == 1);
  TEST_CHECK(at(m2, "roomcast_peers{role=\"viewer\"}") == 0);
  TEST_CHECK(at(m2, "roomcast_websockets") == 2, "%g", at(m2, "roomcast_websockets"));
}

// ---- per-address limits
// --------------------------------------------------------------------------

// One client address cannot take every slot: it holds at most N WebSockets, opens at most N rooms
// and is at most N of one room's peers; the others (another room, a closed connection's slot) go
// on. (--limit-loopback: the test's clients are on loopback, which is exempt by default.)
void test_per_address_limits() {
  ServerProcess srv({"--limit-loopback", "--max-connections-per-address", "4",
                     "--max-rooms-per-address", "2", "--max-peers-per-address", "2"});
  WsClient a("a"), b("b"), c("c"), d("d"), e("e-over");
  for (WsClient *w : {&a, &b, &c, &d})
    w->connect(srv.ws_url());
  // Connections: the fifth from the same address is told why and closed.
  std::string error;
  TEST_CHECK(e.try_connect(srv.ws_url(), error), "refused at the handshake: %s", error.c_str());
  TEST_CHECK(e.wait_closed(5000), "the server kept a fifth connection from one address");
  const auto *err = e.queue().empty() ? nullptr : std::get_if<proto::Error>(&e.queue().front());
  TEST_CHECK(err && err->code == ErrorCode::ServerFull &&
                 err->message.find("your address") != std::string::npos,
             "%s", e.describe_queue().c_str());
  // Rooms: two opened, the third refused; joining an existing room is not opening one.
  a.join("pa-one", Role::Host);
  b.join("pa-two", Role::Host);
  join_refused(c, "pa-three", Role::Host, "", ErrorCode::TooManyRooms);
  // Peers of one room: the host and one viewer from this address, a second viewer refused.
  c.join("pa-one", Role::Viewer);
  join_refused(d, "pa-one", Role::Viewer, "", ErrorCode::RoomFull);
  // Slots come back: a room whose last peer left no longer counts, nor does a closed connection.
  b.close();
  spin(500); // the server sees the close
  d.join("pa-three", Role::Host);
  WsClient f("f");
  f.connect(srv.ws_url());
  f.join("pa-three", Role::Viewer);
  // The metrics count the refusals.
  auto m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"server-full\"}") >= 1,
             "server-full not counted");
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"too-many-rooms\"}") >= 1,
             "too-many-rooms not counted");
}

// Loopback clients are exempt by default (a test rig, the benches, a local proxy's own choice).
void test_per_address_limits_spare_loopback() {
  ServerProcess srv({"--max-connections-per-address", "1", "--max-rooms-per-address", "1"});
  WsClient a("a"), b("b");
  a.connect(srv.ws_url());
  b.connect(srv.ws_url());
  a.join("lo-one", Role::Host);
  b.join("lo-two", Role::Host);
}

// ---- per-token limits
// ----------------------------------------------------------------------------

// A token from `roomcast token` with more options (--max-joins, --id).
std::string issue_with(const char *room, const char *role, std::vector<std::string> more) {
  std::vector<std::string> args{"token", "--room", room, "--role", role, "--ttl", "1h"};
  args.insert(args.end(), more.begin(), more.end());
  Run r = run_roomcast(args, {kSecretEnv});
  TEST_CHECK(r.status == 0, "roomcast token failed (%d): %s", r.status, r.err.c_str());
  return r.out.substr(0, r.out.find('\n'));
}

// Joins with a token; returns the peer id.
std::string join_with(WsClient &c, const char *room, Role role, const std::string &token) {
  c.send(proto::make_join(room, role, "", token));
  return c.expect_type<proto::Welcome>().id;
}

// A token's own `max` claim (roomcast token --max-joins): at most that many peers hold it at
// once, on loopback too (the refusal is logged like the others); a place comes back when one
// leaves; tokens with the same id (jti) share their count, other tokens have their own; refusals
// are token-limit, logged and counted.
void test_token_max_claim() {
  ServerProcess srv({"--require-token", "all"}, {kSecretEnv});
  const std::string host = issue("tl", "host");
  const std::string two = issue_with("tl", "viewer", {"--max-joins", "2"});
  const std::string other = issue("tl", "viewer");
  TEST_CHECK(two != other);
  WsClient h("host"), v1("v1"), v2("v2"), v3("v3"), v4("v4");
  for (WsClient *c : {&h, &v1, &v2, &v3, &v4})
    c->connect(srv.ws_url());
  join_with(h, "tl", Role::Host, host);
  const std::string id1 = join_with(v1, "tl", Role::Viewer, two);
  join_with(v2, "tl", Role::Viewer, two);
  auto e = join_refused(v3, "tl", Role::Viewer, two, ErrorCode::TokenLimit);
  TEST_CHECK(strstr(e.message.c_str(), "in use by 2 peers") &&
                 strstr(e.message.c_str(), "it allows"),
             "%s", e.message.c_str());
  TEST_CHECK(proto::join_action(ErrorCode::TokenLimit) == proto::JoinAction::Retry);
  // Another token of the same room and role is another token.
  join_with(v4, "tl", Role::Viewer, other);
  auto m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"token-limit\"}") == 1, "%g",
             at(m, "roomcast_refusals_total{code=\"token-limit\"}"));
  TEST_CHECK(at(m, "roomcast_tokens_in_use") == 3, "%g", at(m, "roomcast_tokens_in_use"));
  // One leaves (leave, not a closed socket): its place is free again.
  v1.send(proto::make_simple(proto::Type::Leave));
  h.expect_peer_left(id1);
  join_with(v3, "tl", Role::Viewer, two);
  // A closed connection frees its place too.
  v2.close();
  spin(300);
  join_with(v1, "tl", Role::Viewer, two);
  // Two tokens with one id share one count (the smaller max of the token presented counts).
  const std::string a = issue_with("tl", "viewer", {"--max-joins", "1", "--id", "shared"});
  const std::string b = issue_with("tl", "viewer", {"--max-joins", "1", "--id", "shared"});
  WsClient s1("s1"), s2("s2");
  s1.connect(srv.ws_url());
  s2.connect(srv.ws_url());
  join_with(s1, "tl", Role::Viewer, a);
  e = join_refused(s2, "tl", Role::Viewer, b, ErrorCode::TokenLimit);
  m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"token-limit\"}") == 2);
}

// --max-joins-per-token: the server's own limit, for tokens without a max claim (counted by their
// signature when they have no id either) and for those whose claim is larger; the smaller wins.
void test_token_server_limit() {
  ServerProcess srv({"--max-joins-per-token", "2"}, {kSecretEnv});
  const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  // No jti, no max: as tokens of other issuers (and older roomcast) are.
  const std::string plain = roomcast::token::sign({"sl", Role::Viewer, now, now + 600}, kSecret);
  roomcast::token::Claims big{"sl", Role::Viewer, now, now + 600};
  big.max_joins = 50;
  big.jti = "big";
  const std::string fifty = roomcast::token::sign(big, kSecret);
  roomcast::token::Claims small = big;
  small.max_joins = 1;
  small.jti = "small";
  const std::string one = roomcast::token::sign(small, kSecret);
  WsClient h("host"), p1("p1"), p2("p2"), p3("p3"), f1("f1"), f2("f2"), f3("f3"), o1("o1"),
      o2("o2"), x("x");
  for (WsClient *c : {&h, &p1, &p2, &p3, &f1, &f2, &f3, &o1, &o2, &x})
    c->connect(srv.ws_url());
  join_with(h, "sl", Role::Host, issue("sl", "host"));
  join_with(p1, "sl", Role::Viewer, plain);
  join_with(p2, "sl", Role::Viewer, plain);
  auto e = join_refused(p3, "sl", Role::Viewer, plain, ErrorCode::TokenLimit);
  TEST_CHECK(strstr(e.message.c_str(), "the server allows"), "%s", e.message.c_str());
  join_with(f1, "sl", Role::Viewer, fifty);
  join_with(f2, "sl", Role::Viewer, fifty);
  join_refused(f3, "sl", Role::Viewer, fifty, ErrorCode::TokenLimit);
  join_with(o1, "sl", Role::Viewer, one);
  e = join_refused(o2, "sl", Role::Viewer, one, ErrorCode::TokenLimit);
  TEST_CHECK(strstr(e.message.c_str(), "it allows"), "%s", e.message.c_str());
  // Viewers without a token are not limited by any of this (the default policy admits them).
  x.join("sl", Role::Viewer);
  // A max claim out of range is a malformed token, not a limit of 0.
  roomcast::token::Claims huge = big;
  huge.max_joins = roomcast::token::kMaxJoinsClaim + 1;
  WsClient y("y");
  y.connect(srv.ws_url());
  e = join_refused(y, "sl", Role::Viewer, roomcast::token::sign(huge, kSecret),
                   ErrorCode::BadToken);
  TEST_CHECK(strstr(e.message.c_str(), "'max'"), "%s", e.message.c_str());
  auto m = metrics(srv);
  TEST_CHECK(at(m, "roomcast_refusals_total{code=\"token-limit\"}") == 3);
  // Bad values are bad options.
  Run r = run_roomcast({"serve", "--port", "0", "--max-joins-per-token", "-1"});
  TEST_CHECK(r.status == 2, "%d %s", r.status, r.err.c_str());
  r = run_roomcast({"token", "--room", "a", "--role", "viewer", "--max-joins", "-3"}, {kSecretEnv});
  TEST_CHECK(r.status == 2, "%d %s", r.status, r.err.c_str());
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/security/tokens/squatter", test_tokens_squatter);
  g_test_add_func("/security/tokens/all", test_tokens_all);
  g_test_add_func("/security/tokens/options", test_token_options);
  g_test_add_func("/security/origin", test_origin);
  g_test_add_func("/security/host-and-headers", test_host_and_headers);
  g_test_add_func("/security/web-root-symlinks", test_web_root_symlinks);
  g_test_add_func("/security/tls/self-signed", test_tls_self_signed);
  g_test_add_func("/security/tls/ca", test_tls_ca);
  g_test_add_func("/security/connections/half-open-timeout", test_half_open_timeout);
  g_test_add_func("/security/connections/half-open-cannot-lock-out",
                  test_half_open_cannot_lock_out);
  g_test_add_func("/security/metrics", test_metrics);
  g_test_add_func("/security/limits/per-address", test_per_address_limits);
  g_test_add_func("/security/limits/per-address-spare-loopback",
                  test_per_address_limits_spare_loopback);
  g_test_add_func("/security/limits/token-max-claim", test_token_max_claim);
  g_test_add_func("/security/limits/token-server-limit", test_token_server_limit);
  return g_test_run();
}
