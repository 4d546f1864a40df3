// Table tests for the pure policies: the room rules (src/common/room-rules.*: which role fits
// which room, who sees whom, when a join or a relay is refused) and the join-error policy
// (fatal or retry, from the protocol's table, with its backoff). Each row is one decision; no
// I/O, no clock, no sleeps.
#include "check-str.h"
#include "room-rules.h"

#include <glib.h>

#include <climits>
#include <cstring>
#include <optional>
#include <set>
#include <string>

using namespace roomcast::proto;
namespace rules = roomcast::rules;

namespace {

constexpr Role H = Role::Host, V = Role::Viewer, M = Role::Member;
constexpr RoomKind Live = RoomKind::Live, Meeting = RoomKind::Meeting;

std::string show(const std::optional<rules::Refusal> &r) {
  return r ? r->text() : std::string("(allowed)");
}

// Fails with the row's description unless `got` is the refusal with `want`, or no refusal.
void check_decision(int row, const char *what, const std::optional<rules::Refusal> &got,
                    std::optional<ErrorCode> want) {
  const bool ok = want ? (got && got->code == *want) : !got;
  if (ok) return;
  g_autofree char *msg = g_strdup_printf("row %d (%s): got %s, wanted %s", row, what,
                                         show(got).c_str(), want ? to_string(*want) : "(allowed)");
  g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
}

// ---- which role fits which room ---------------------------------------------------------------

void test_fits() {
  const struct {
    Role role;
    RoomKind kind;
    bool fits;
  } rows[] = {
      {H, Live, true},     {V, Live, true},     {M, Live, false},
      {H, Meeting, false}, {V, Meeting, false}, {M, Meeting, true},
  };
  for (const auto &r : rows) {
    g_test_message("%s in a %s room: %s", to_string(r.role), to_string(r.kind),
                   r.fits ? "fits" : "does not fit");
    g_assert_true(rules::fits(r.role, r.kind) == r.fits);
    // A role fits exactly the kind of room it creates.
    g_assert_true((kind_for_role(r.role) == r.kind) == r.fits);
  }
}

// ---- who sees whom ----------------------------------------------------------------------------

void test_sees() {
  const struct {
    RoomKind kind;
    Role observer, other;
    bool sees;
  } rows[] = {
      // live: the host sees every viewer, a viewer sees the host, viewers never see each other
      {Live, H, V, true},
      {Live, V, H, true},
      {Live, V, V, false},
      // meeting: everyone sees everyone
      {Meeting, M, M, true},
  };
  for (const auto &r : rows) {
    g_test_message("%s room: %s sees %s: %s", to_string(r.kind), to_string(r.observer),
                   to_string(r.other), r.sees ? "yes" : "no");
    g_assert_true(rules::sees(r.kind, r.observer, r.other) == r.sees);
  }
}

// ---- joins ------------------------------------------------------------------------------------

void test_join() {
  const rules::Limits defaults;
  g_assert_cmpuint(defaults.max_rooms, ==, 1000);
  g_assert_cmpuint(defaults.max_peers_per_room, ==, 200);
  const rules::Limits small{3, 4}; // 3 rooms of 4 peers
  using RS = rules::RoomState;
  const std::optional<RS> none;
  const std::optional<ErrorCode> ok;
  const struct {
    const char *what;
    Role role;
    std::optional<RS> room;
    std::size_t rooms;
    rules::Limits limits;
    std::optional<ErrorCode> want;
  } rows[] = {
      // A new room, made by any role while there is space for it.
      {"host makes a room", H, none, 0, small, ok},
      {"viewer makes a room", V, none, 2, small, ok},
      {"member makes a room", M, none, 2, small, ok},
      {"no space for a new room (host)", H, none, 3, small, ErrorCode::TooManyRooms},
      {"no space for a new room (viewer)", V, none, 3, small, ErrorCode::TooManyRooms},
      {"no space for a new room (member)", M, none, 3, small, ErrorCode::TooManyRooms},
      {"over the room limit", M, none, 10, small, ErrorCode::TooManyRooms},
      {"no rooms allowed", H, none, 0, rules::Limits{0, 4}, ErrorCode::TooManyRooms},
      {"server defaults: the 1000th room", H, none, 999, defaults, ok},
      {"server defaults: the 1001st room", H, none, 1000, defaults, ErrorCode::TooManyRooms},
      // An existing room can be joined at the room limit.
      {"viewer into a live room at the room limit", V, RS{Live, true, 1}, 3, small, ok},
      {"member into a meeting at the room limit", M, RS{Meeting, false, 3}, 3, small, ok},
      // Live rooms.
      {"viewer to a host", V, RS{Live, true, 1}, 1, small, ok},
      {"viewer to waiting viewers", V, RS{Live, false, 2}, 1, small, ok},
      {"host to waiting viewers", H, RS{Live, false, 3}, 1, small, ok},
      {"second host", H, RS{Live, true, 1}, 1, small, ErrorCode::HostTaken},
      {"second host, room busy", H, RS{Live, true, 3}, 1, small, ErrorCode::HostTaken},
      {"member into a live room", M, RS{Live, true, 1}, 1, small, ErrorCode::WrongKind},
      {"member into a live room without host", M, RS{Live, false, 1}, 1, small,
       ErrorCode::WrongKind},
      // Meetings.
      {"member to members", M, RS{Meeting, false, 3}, 1, small, ok},
      {"host into a meeting", H, RS{Meeting, false, 1}, 1, small, ErrorCode::WrongKind},
      {"viewer into a meeting", V, RS{Meeting, false, 1}, 1, small, ErrorCode::WrongKind},
      // Full rooms: the limit counts every peer, host included.
      {"last seat in a live room", V, RS{Live, true, 3}, 1, small, ok},
      {"viewer into a full live room", V, RS{Live, true, 4}, 1, small, ErrorCode::RoomFull},
      {"host into a full live room", H, RS{Live, false, 4}, 1, small, ErrorCode::RoomFull},
      {"member into a full meeting", M, RS{Meeting, false, 4}, 1, small, ErrorCode::RoomFull},
      {"last seat in a meeting", M, RS{Meeting, false, 3}, 1, small, ok},
      {"one-seat rooms", V, RS{Live, false, 1}, 1, rules::Limits{3, 1}, ErrorCode::RoomFull},
      {"server defaults: the 200th peer", V, RS{Live, true, 199}, 1, defaults, ok},
      {"server defaults: the 201st peer", V, RS{Live, true, 200}, 1, defaults, ErrorCode::RoomFull},
      // The order of the checks: wrong-kind, host-taken, room-full.
      {"wrong kind wins over full", M, RS{Live, true, 4}, 1, small, ErrorCode::WrongKind},
      {"wrong kind wins over full (host)", H, RS{Meeting, false, 4}, 1, small,
       ErrorCode::WrongKind},
      {"host taken wins over full", H, RS{Live, true, 4}, 1, small, ErrorCode::HostTaken},
  };
  int i = 0;
  for (const auto &r : rows) {
    ++i;
    auto got = rules::check_join("demo", r.role, r.room, r.rooms, r.limits);
    g_test_message("row %d: %s: %s", i, r.what, show(got).c_str());
    check_decision(i, r.what, got, r.want);
    if (got) {
      // Every refusal explains itself for people, and its text starts with its code.
      g_assert_false(got->message.empty());
      g_assert_true(g_str_has_prefix(got->text().c_str(),
                                     (std::string(to_string(got->code)) + ": ").c_str()));
      // Refused joins are the ones the join-error policy knows about.
      g_assert_true(got->code == ErrorCode::TooManyRooms || got->code == ErrorCode::HostTaken ||
                    got->code == ErrorCode::WrongKind || got->code == ErrorCode::RoomFull);
    }
  }
  // The texts the docs show.
  CHECK_STR(rules::check_join("demo", H, RS{Live, true, 1}, 1, small)->message,
            "room 'demo' already has a host");
  CHECK_STR(rules::check_join("demo", M, RS{Live, true, 1}, 1, small)->message,
            "room 'demo' is a live room; role 'member' cannot join it");
  CHECK_STR(rules::check_join("demo", V, RS{Live, true, 4}, 1, small)->text(),
            "room-full: room 'demo' is full");
}

// ---- relays -----------------------------------------------------------------------------------

void test_relay() {
  const std::optional<Role> nobody;
  const std::optional<ErrorCode> ok;
  const struct {
    RoomKind kind;
    Role from;
    std::optional<Role> to;
    std::optional<ErrorCode> want;
  } rows[] = {
      {Live, H, V, ok},
      {Live, V, H, ok},
      {Live, V, V, ErrorCode::Forbidden},
      {Live, H, nobody, ErrorCode::UnknownPeer},
      {Live, V, nobody, ErrorCode::UnknownPeer},
      {Meeting, M, M, ok},
      {Meeting, M, nobody, ErrorCode::UnknownPeer},
  };
  int i = 0;
  for (const auto &r : rows) {
    ++i;
    auto got = rules::check_relay("demo", r.kind, r.from, "p1", r.to);
    g_autofree char *what = g_strdup_printf("%s room: %s to %s", to_string(r.kind),
                                            to_string(r.from), r.to ? to_string(*r.to) : "nobody");
    g_test_message("row %d: %s: %s", i, what, show(got).c_str());
    check_decision(i, what, got, r.want);
    // A relay is allowed exactly when the sender sees the target.
    if (r.to) g_assert_true(!got == rules::sees(r.kind, r.from, *r.to));
  }
  CHECK_STR(rules::check_relay("demo", Live, V, "p9", V)->message,
            "viewers may only signal with the host");
  CHECK_STR(rules::check_relay("demo", Live, H, "p9", nobody)->message,
            "no peer 'p9' in room 'demo'");
}

// A prefer (a ladder layer asked for) goes from a viewer to its host, or from a member to another
// member; nothing else.
void test_prefer() {
  const std::optional<ErrorCode> ok;
  const struct {
    Role from, to;
    std::optional<ErrorCode> want;
  } rows[] = {
      {V, H, ok},
      {H, V, ErrorCode::Forbidden},
      {V, V, ErrorCode::Forbidden},
      {M, M, ok},
      {H, H, ErrorCode::Forbidden},
      {V, M, ErrorCode::Forbidden},
      {M, H, ErrorCode::Forbidden},
      {H, M, ErrorCode::Forbidden},
  };
  int i = 0;
  for (const auto &r : rows) {
    ++i;
    g_autofree char *what = g_strdup_printf("%s to %s", to_string(r.from), to_string(r.to));
    check_decision(i, what, rules::check_prefer(r.from, r.to), r.want);
  }
}

// ---- token policy ---------------------------------------------------------------------------

void test_token_policy() {
  using TP = rules::TokenPolicy;
  using TS = rules::TokenStatus;
  const std::optional<ErrorCode> ok;
  const struct {
    const char *what;
    TP policy;
    Role role;
    TS status;
    bool room_exists;
    std::optional<ErrorCode> want;
  } rows[] = {
      // No tokens needed: anyone, anywhere (the server without a secret).
      {"none: host without token", TP::None, H, TS::Absent, false, ok},
      {"none: viewer makes a room", TP::None, V, TS::Absent, false, ok},
      {"none: member without token", TP::None, M, TS::Absent, true, ok},
      // A refused token is never ignored, whatever the policy.
      {"none: bad token", TP::None, V, TS::Invalid, true, ErrorCode::BadToken},
      {"host: bad token", TP::Host, H, TS::Invalid, false, ErrorCode::BadToken},
      {"all: bad token", TP::All, V, TS::Invalid, true, ErrorCode::BadToken},
      // Host: the roles that own a room's picture need a token.
      {"host: squatting host", TP::Host, H, TS::Absent, false, ErrorCode::TokenRequired},
      {"host: host into an open room", TP::Host, H, TS::Absent, true, ErrorCode::TokenRequired},
      {"host: member making a meeting", TP::Host, M, TS::Absent, false, ErrorCode::TokenRequired},
      {"host: member into a meeting", TP::Host, M, TS::Absent, true, ErrorCode::TokenRequired},
      {"host: host with a token", TP::Host, H, TS::Valid, false, ok},
      {"host: member with a token", TP::Host, M, TS::Valid, false, ok},
      // ... viewers join open rooms freely, but cannot make one (and so decide its kind).
      {"host: viewer into an open room", TP::Host, V, TS::Absent, true, ok},
      {"host: viewer makes no room", TP::Host, V, TS::Absent, false, ErrorCode::RoomNotOpen},
      {"host: viewer with a token makes one", TP::Host, V, TS::Valid, false, ok},
      // All: nobody without a token.
      {"all: viewer without token", TP::All, V, TS::Absent, true, ErrorCode::TokenRequired},
      {"all: host without token", TP::All, H, TS::Absent, false, ErrorCode::TokenRequired},
      {"all: viewer with a token", TP::All, V, TS::Valid, true, ok},
      {"all: member with a token", TP::All, M, TS::Valid, false, ok},
  };
  int i = 0;
  for (const auto &r : rows) {
    g_test_message("row %d: %s", i, r.what);
    check_decision(i++, r.what,
                   rules::check_token(r.policy, r.role, r.status, "why", r.room_exists), r.want);
  }
  // The refusal of a bad token says why.
  auto bad = rules::check_token(TP::Host, H, TS::Invalid, "expired 3 min ago", true);
  g_assert_nonnull(strstr(bad->message.c_str(), "expired 3 min ago"));
  // Names on the command line.
  for (TP p : {TP::None, TP::Host, TP::All})
    g_assert_true(rules::token_policy_from_string(rules::to_string(p)) == p);
  g_assert_false(rules::token_policy_from_string("Host").has_value());
  g_assert_false(rules::token_policy_from_string("").has_value());
}

// ---- join-error policy ------------------------------------------------------------------------

void test_join_error_policy() {
  constexpr JoinAction Fatal = JoinAction::Fatal, Retry = JoinAction::Retry;
  const struct {
    ErrorCode code;
    JoinAction action;
  } rows[] = {
      // A broken or foreign join: no retry can fix it.
      {ErrorCode::BadJson, Fatal},
      {ErrorCode::BadMessage, Fatal},
      {ErrorCode::UnknownType, Fatal},
      {ErrorCode::TooLarge, Fatal},
      {ErrorCode::Binary, Fatal},
      {ErrorCode::BadVersion, Fatal},
      // Never the answer to a well-behaved join: a client bug.
      {ErrorCode::NotJoined, Fatal},
      {ErrorCode::AlreadyJoined, Fatal},
      {ErrorCode::UnknownPeer, Fatal},
      {ErrorCode::Forbidden, Fatal},
      // The room is not for this role: asking again gives the same answer.
      {ErrorCode::HostTaken, Fatal},
      {ErrorCode::WrongKind, Fatal},
      // Capacity: it may be there later.
      {ErrorCode::RoomFull, Retry},
      {ErrorCode::TooManyRooms, Retry},
      {ErrorCode::RateLimited, Retry},
      {ErrorCode::ServerFull, Retry},
      // Tokens: a missing or refused one stays so; a room not opened yet may open.
      {ErrorCode::TokenRequired, Fatal},
      {ErrorCode::BadToken, Fatal},
      {ErrorCode::RoomNotOpen, Retry},
      // A token used by as many peers as it allows: one of them may leave.
      {ErrorCode::TokenLimit, Retry},
  };
  // Every code of the table has its row, so a new code needs a decision here.
  std::set<ErrorCode> seen;
  for (const auto &r : rows) {
    g_test_message("%s: %s", to_string(r.code), r.action == Fatal ? "fatal" : "retry");
    g_assert_true(join_action(r.code) == r.action);
    g_assert_true(join_error_is_fatal(r.code) == (r.action == Fatal));
    g_assert_true(spec::kErrors[static_cast<std::size_t>(r.code)].join == r.action);
    seen.insert(r.code);
  }
  g_assert_cmpuint(seen.size(), ==, spec::kErrors.size());
  // A value outside the table is fatal.
  g_assert_true(join_action(static_cast<ErrorCode>(spec::kErrors.size())) == Fatal);
  // Every refusal the room rules make is covered, and the retryable ones say so to people.
  for (ErrorCode c : {ErrorCode::RoomFull, ErrorCode::TooManyRooms, ErrorCode::ServerFull,
                      ErrorCode::RoomNotOpen, ErrorCode::TokenLimit})
    g_assert_nonnull(strstr(std::string(error_text(c)).c_str(), "trying again"));
}

void test_retry_backoff() {
  const struct {
    unsigned attempt;
    unsigned delay_ms;
  } rows[] = {
      {0, 500},  {1, 1000},  {2, 2000},  {3, 4000},    {4, 8000},
      {5, 8000}, {31, 8000}, {32, 8000}, {1000, 8000}, {UINT_MAX, 8000},
  };
  g_assert_cmpuint(kRetryFirstMs, ==, 500);
  g_assert_cmpuint(kRetryMaxMs, ==, 8000);
  for (const auto &r : rows) {
    g_test_message("attempt %u: %u ms", r.attempt, r.delay_ms);
    g_assert_cmpuint(retry_delay_ms(r.attempt), ==, r.delay_ms);
  }
  // Never shorter than the first delay, never longer than the cap, never shrinking.
  for (unsigned a = 0; a < 100; a++) {
    g_assert_cmpuint(retry_delay_ms(a), >=, kRetryFirstMs);
    g_assert_cmpuint(retry_delay_ms(a), <=, kRetryMaxMs);
    g_assert_cmpuint(retry_delay_ms(a + 1), >=, retry_delay_ms(a));
  }
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/policies/room/fits", test_fits);
  g_test_add_func("/policies/room/sees", test_sees);
  g_test_add_func("/policies/room/join", test_join);
  g_test_add_func("/policies/room/relay", test_relay);
  g_test_add_func("/policies/room/prefer", test_prefer);
  g_test_add_func("/policies/room/token", test_token_policy);
  g_test_add_func("/policies/join-error", test_join_error_policy);
  g_test_add_func("/policies/join-retry-backoff", test_retry_backoff);
  return g_test_run();
}
