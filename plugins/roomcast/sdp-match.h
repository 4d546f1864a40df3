// Matching an offer's payload entries to what we send: a pure function of the SDP and our
// codec caps (table-tested in tests/unit/test-policies.cpp).
#pragma once

#include <gst/gst.h>
#include <gst/sdp/sdp.h>

namespace roomcast {

// The profile name GStreamer gives an H.264 profile-level-id ("42e01f" -> "constrained-baseline"),
// or null for one it does not name.
const char *h264_profile_name(const char *plid);

// The payload number an offer gives our codec (`ours`: application/x-rtp caps with media,
// encoding-name and, for H.264, profile-level-id) on an m-line of its media, or -1 when it offers
// none we can send.
int offered_payload(const GstSDPMessage *sdp, const GstCaps *ours);

} // namespace roomcast
