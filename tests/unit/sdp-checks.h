// SDP validators for the element spec tests: what an offer or answer of roomcastsink/roomcastsrc
// must say, checked on the parsed text (GstSDPMessage). Each check returns the problems it found
// (empty: fine), so a test can print all of them at once.
#pragma once

#include <gst/sdp/sdp.h>

#include <string>
#include <vector>

namespace spec::sdp {

using Problems = std::vector<std::string>;

// "ok", or the problems joined with "; ".
std::string describe(const Problems &problems);
// Appends `more` to `into`.
void add(Problems &into, const Problems &more);

// Parses SDP text (nullptr when the parser refuses it or it has no "v=" line). Free with
// gst_sdp_message_free.
GstSDPMessage *parse(const std::string &text);

// The direction of m-line `index`: its own a=sendonly/recvonly/sendrecv/inactive, else the
// session's, else "sendrecv" (RFC 4566's default).
std::string direction(const GstSDPMessage *msg, guint index);

// Every audio/video m-line is there (port 0 without a=bundle-only is a rejected line) and has
// direction `expected`. At least one such m-line must exist.
Problems check_directions(const GstSDPMessage *msg, const std::string &expected);

// Every payload number of every audio/video m-line is a number and has an a=rtpmap; every
// rtpmap/fmtp/rtcp-fb names a payload of its m-line.
Problems check_rtpmaps(const GstSDPMessage *msg);

// The m-lines of `media` ("video", "audio") offer exactly these codecs (encoding names, any
// case), not counting the helper formats rtx, red, ulpfec and flexfec. At least one m-line of
// `media` must exist.
Problems check_codecs(const GstSDPMessage *msg, const std::string &media,
                      const std::vector<std::string> &codecs);

// Every payload of encoding `codec` in the m-lines of `media` has each of these a=rtcp-fb values
// ("nack", "nack pli", "ccm fir"), for its own number or for "*".
Problems check_feedback(const GstSDPMessage *msg, const std::string &media,
                        const std::string &codec, const std::vector<std::string> &feedback);

// Every H.264 payload has an a=fmtp with packetization-mode=1 and a profile-level-id of exactly
// six hex digits whose first four (profile_idc and constraint flags) are `profile_prefix`
// ("42e0" constrained baseline, "4d00" main, "6400" high). At least one H.264 payload must exist.
Problems check_h264(const GstSDPMessage *msg, const std::string &profile_prefix);

// The profile_idc + constraint flags prefix of profile-level-id for an H.264 caps profile name
// ("constrained-baseline" -> "42e0", "baseline" -> "4200", "main" -> "4d00", "high" -> "6400");
// empty for names it does not know.
std::string h264_profile_prefix(const std::string &caps_profile);

} // namespace spec::sdp
