// WHEP egress (RFC 9725) at the signalling server: a WHEP player watches a live room.
//
//   POST   /whep/ROOM            application/sdp offer (the player's, receive-only) -> 201 Created,
//                                Location /whep/session/ID, the host's answer (with the host's
//                                candidates: non-trickle from our side)
//   PATCH  /whep/session/ID      application/trickle-ice-sdpfrag: the player's late candidates
//   DELETE /whep/session/ID      ends the session
//   OPTIONS                      CORS preflight, Accept-Post
//
// Each session is a viewer of the room like any other, speaking the protocol over a WebSocket to
// this very server (so rooms, limits, tokens and logs treat it as one): it joins with "offers"
// (docs/protocol.md), which tells the host to answer rather than offer, sends the player's offer
// to the host and sends the HTTP response when the host's answer (and its last candidate) came.
// A Bearer token is the join's room token. 404 when the room has no live host, 401/403 for a
// token the server refuses, 504 when the host does not answer in time.
//
// Threads: the server's main context only (libsoup's rule), as the server itself.
#pragma once

#include <libsoup/soup.h>

#include <memory>
#include <string>

namespace roomcast::whep {

// Headers of a session's WebSocket request: the endpoint's secret, and the player's address.
inline constexpr const char *kSecretHeader = "X-Roomcast-Whep-Secret";
inline constexpr const char *kAddressHeader = "X-Roomcast-Whep-Client";

class Endpoint {
public:
  // `ws_url`: this server's WebSocket (ws:// or wss://); `fingerprint`: its certificate's (TLS),
  // the only one accepted on that connection. `answer_timeout_ms`: how long a POST waits for the
  // host's answer (the server closes any request after --http-timeout: less than that).
  // `client_secret`: sent with each session's WebSocket request (kClientHeader) with the
  // player's address (kAddressHeader), so that the server counts the session against the
  // player's address, not its own (see Server).
  Endpoint(std::string ws_url, std::string fingerprint, unsigned answer_timeout_ms,
           std::string client_secret);
  ~Endpoint();
  Endpoint(const Endpoint &) = delete;
  Endpoint &operator=(const Endpoint &) = delete;

  // A request under /whep (false: not ours). May pause `msg` until the host answers.
  bool handle(SoupServerMessage *msg, const char *path);
  // Ends every session (the server stops).
  void close_all();
  size_t sessions() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace roomcast::whep
