// WHIP ingest (RFC 9725) for `roomcast live --source whip`: a small HTTP endpoint that takes ONE
// publisher's SDP offer (OBS, a browser, any WHIP client), answers it from a receive-only
// webrtcbin in the host's own pipeline, and feeds the publisher's ENCODED video (depayloaded, never
// decoded) into the roomcastsink's video_0 pad: the room's viewers get the publisher's stream
// through the same tee fan-out, with no encoder in this process.
//
//   POST   /whip               application/sdp offer -> 201 Created, Location, answer (non-trickle:
//                              the answer carries every candidate gathered)
//   PATCH  /whip/session/ID    application/trickle-ice-sdpfrag: the publisher's late candidates
//   DELETE /whip/session/ID    ends the session (the room stays live, waiting for the next one)
//   OPTIONS                    CORS preflight (browsers), Accept-Post
//
// One publisher at a time: a second POST while one is active gets 409 Conflict (it never replaces
// the first: anyone holding the token could otherwise take over a live room). A session whose
// connection fails or closes, whose video stops for 5 s, or that does not connect within 20 s of
// its answer, ends by itself (a publisher that vanished without DELETE does not block the next).
// Bearer tokens: `--whip-token` (a shared secret) and, when the embedded server checks room tokens,
// a host token of the room.
//
// Threads: everything here runs on the main context that start() was called on (libsoup's);
// webrtcbin's callbacks hop there with the session's number and look it up again.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>

namespace roomcast::app {

struct WhipOptions {
  std::string host = "127.0.0.1"; // --whip-listen [HOST:]PORT
  unsigned port = 8089;           // 0 picks a free one
  std::string codec = "vp8";      // the one video codec the answer accepts (--codec)
  bool audio = false;             // --audio: the publisher's Opus goes to the room too
  std::string secret;             // --whip-token's secret ("" none)
  std::string token_secret;       // the embedded server's room-token secret ("" none)
  std::string room;               // for host tokens
  bool ice_loopback = false;      // add 127.0.0.1 to ICE
  std::string stun;               // stun://HOST:PORT for the webrtcbin ("" none)
  // The embedded server's certificate files (--tls-cert/--tls-key): https on the endpoint too.
  std::string tls_cert_file, tls_key_file;
  int answer_timeout_s = 10;  // 504 when no answer is ready by then
  int media_timeout_s = 5;    // a publisher whose video stops this long is ended
  int connect_timeout_s = 20; // and one that does not connect this long after the answer
};

// "[HOST:]PORT" ("8089", "0.0.0.0:8089", "[::1]:8089"). False on anything else.
bool parse_whip_listen(const char *arg, std::string &host, unsigned &port);

// The host pipeline for --source whip: a roomcastsink (name "roomcast") whose video_0 pad (and
// audio_0 with `audio`) exists from the start and is fed once a publisher comes. Returns the
// pipeline and the sink (plain refs).
GstElement *build_whip_pipeline(bool audio, GstElement **sink);

class WhipIngest {
public:
  WhipIngest(GstElement *pipeline, GstElement *sink, WhipOptions opts);
  ~WhipIngest();
  WhipIngest(const WhipIngest &) = delete;
  WhipIngest &operator=(const WhipIngest &) = delete;

  // Listens on the thread-default main context. False with `error` set.
  bool start(GError **error);
  // Ends the session (if any) and stops listening.
  void stop();
  // http(s)://HOST:PORT/whip
  std::string url() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace roomcast::app
