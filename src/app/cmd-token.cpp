// roomcast token: prints a room token (JWT HS256, src/common/token.h) signed with the server's
// secret, for `--token`, a signaller's `token` property, or a page link (`?token=`).
#include "app.h"

#include "token.h"

#include <cstdio>
#include <cstring>

namespace roomcast::app {

int cmd_token(int argc, char **argv) {
  g_autofree char *room = nullptr;
  g_autofree char *role = nullptr;
  g_autofree char *ttl = nullptr;
  g_autofree char *secret_file = nullptr;
  g_autofree char *link = nullptr;
  g_autofree char *id = nullptr;
  int max_joins = 0;
  GOptionEntry entries[] = {
      {"room", 'r', 0, G_OPTION_ARG_STRING, &room, "The room the token opens (required)", "NAME"},
      {"role", 0, 0, G_OPTION_ARG_STRING, &role, "host, viewer or member (required)", "ROLE"},
      {"ttl", 0, 0, G_OPTION_ARG_STRING, &ttl,
       "How long the token is valid: seconds, or with s, m, h or d (12h)", "DURATION"},
      {"token-secret-file", 0, 0, G_OPTION_ARG_FILENAME, &secret_file,
       "The server's token secret (else $ROOMCAST_TOKEN_SECRET)", "FILE"},
      {"link", 0, 0, G_OPTION_ARG_STRING, &link,
       "Print the web client's link for the token instead, on this server (https://HOST:PORT/)",
       "URL"},
      {"max-joins", 0, 0, G_OPTION_ARG_INT, &max_joins,
       "At most N peers may be in the room with this token at once (its 'max' claim; the server "
       "refuses one more with token-limit). Without it only the server's --max-joins-per-token "
       "applies",
       "N"},
      {"id", 0, 0, G_OPTION_ARG_STRING, &id,
       "The token's id (its 'jti' claim): tokens with one id share their max-joins, and the "
       "server's logs name the token by it (default: a random one)",
       "ID"},
      {nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- print a room token");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_set_description(
      ctx, "The token is a JWT (HS256) with the claims room, role, iat, exp and jti (and max "
           "with --max-joins), signed with the "
           "secret the server reads from --token-secret-file or $ROOMCAST_TOKEN_SECRET. The "
           "secret never goes on a command line.\n\nExit status: 0 printed, 1 error, 2 bad "
           "options.");
  if (!parse_options(ctx, argc, argv)) return 2;
  if (!room || !proto::valid_room_name(room)) {
    g_printerr("roomcast token: --room NAME is required (%s)\n",
               std::string(proto::spec::kRoomNameRule).c_str());
    return 2;
  }
  auto r = role ? proto::role_from_string(role) : std::nullopt;
  if (!r) {
    g_printerr("roomcast token: --role must be host, viewer or member\n");
    return 2;
  }
  if (max_joins < 0 || unsigned(max_joins) > token::kMaxJoinsClaim) {
    g_printerr("roomcast token: --max-joins must be 1-%u\n", token::kMaxJoinsClaim);
    return 2;
  }
  if (id && (!*id || strlen(id) > 128)) {
    g_printerr("roomcast token: --id must be 1-128 bytes\n");
    return 2;
  }
  auto seconds = token::parse_duration(ttl ? ttl : "12h");
  if (!seconds) {
    g_printerr("roomcast token: --ttl must be a positive duration (90, 90s, 15m, 12h, 7d; at most "
               "ten years)\n");
    return 2;
  }
  std::string secret;
  g_autoptr(GError) err = nullptr;
  if (!load_token_secret(secret_file, secret, &err)) {
    g_printerr("roomcast token: %s\n", err->message);
    return 1;
  }
  if (secret.empty()) {
    g_printerr("roomcast token: no secret: give --token-secret-file FILE or set "
               "ROOMCAST_TOKEN_SECRET (the same the server uses)\n");
    return 1;
  }
  const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  token::Claims claims{room, *r, now, now + *seconds};
  claims.max_joins = unsigned(max_joins);
  if (id) {
    claims.jti = id;
  } else {
    // 64 random bits: an id to find the token by in the server's logs.
    char buf[17];
    g_snprintf(buf, sizeof buf, "%08x%08x", g_random_int(), g_random_int());
    claims.jti = buf;
  }
  std::string t = token::sign(claims, secret);
  if (link) {
    std::string base = link;
    if (base.empty() || base.back() != '/') base += '/';
    printf("%sroom/%s?role=%s&token=%s\n", base.c_str(), room, proto::to_string(*r), t.c_str());
  } else {
    printf("%s\n", t.c_str());
  }
  return 0;
}

} // namespace roomcast::app
