// Matching an offer's payload entries to what we send (see sdp-match.h).
#include "sdp-match.h"

#include <cstdio>
#include <cstdlib>

namespace roomcast {

// The profile name GStreamer gives an H.264 profile-level-id (its SDP parsing and webrtcbin compare
// these, not the hex): profile_idc and the constraint flags of its first two bytes.
const char *h264_profile_name(const char *plid) {
  unsigned idc = 0, flags = 0;
  if (!plid || sscanf(plid, "%2x%2x", &idc, &flags) != 2) return nullptr;
  switch (idc) {
  case 66:
    return (flags & 0x40) ? "constrained-baseline" : "baseline";
  case 77:
    return "main";
  case 88:
    return "extended";
  case 100:
    if (flags & 0x08) return (flags & 0x04) ? "constrained-high" : "progressive-high";
    return "high";
  case 110:
    return (flags & 0x10) ? "high-10-intra" : "high-10";
  case 122:
    return (flags & 0x10) ? "high-4:2:2-intra" : "high-4:2:2";
  case 244:
    return (flags & 0x10) ? "high-4:4:4-intra" : "high-4:4:4";
  default:
    return nullptr;
  }
}

// The payload number an offer gives our codec on the m-line of its media, or -1. H.264: only
// packetization-mode 1 (what we send), and an entry with our profile before any other: browsers
// offer several (Chromium: baseline 42001f first, then constrained-baseline 42e01f, main 4d001f),
// and webrtcbin matches the offer to our transceiver only if the profiles agree (otherwise it
// answers recvonly and we send nothing).
int offered_payload(const GstSDPMessage *sdp, const GstCaps *ours) {
  const GstStructure *s = gst_caps_get_structure(ours, 0);
  const char *media = gst_structure_get_string(s, "media");
  const char *enc = gst_structure_get_string(s, "encoding-name");
  const char *plid = gst_structure_get_string(s, "profile-level-id");
  if (!media || !enc) return -1;
  int first = -1; // the first H.264 packetization-mode 1 entry, if none has our profile
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
    // Port 0 refuses the m-line, except with bundle-only (RFC 8843): webrtcbin offers every
    // m-line after the first like that under max-bundle, and it is still wanted.
    if (g_strcmp0(gst_sdp_media_get_media(m), media) != 0 ||
        (gst_sdp_media_get_port(m) == 0 && !gst_sdp_media_get_attribute_val(m, "bundle-only")))
      continue;
    for (guint f = 0; f < gst_sdp_media_formats_len(m); f++) {
      int pt = atoi(gst_sdp_media_get_format(m, f));
      g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media(m, pt);
      if (!caps) continue;
      const char *name = gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name");
      if (!name || g_ascii_strcasecmp(name, enc) != 0) continue;
      if (g_str_equal(enc, "H264")) {
        const GstStructure *o = gst_caps_get_structure(caps, 0);
        if (g_strcmp0(gst_structure_get_string(o, "packetization-mode"), "1") != 0) continue;
        // GStreamer's SDP parsing turns profile-level-id into a profile name.
        const char *theirs = gst_structure_get_string(o, "profile-level-id");
        const char *their_profile =
            theirs ? h264_profile_name(theirs) : gst_structure_get_string(o, "profile");
        if (plid && their_profile && g_strcmp0(h264_profile_name(plid), their_profile) != 0) {
          if (first < 0) first = pt;
          continue;
        }
      }
      return pt;
    }
  }
  return first;
}
} // namespace roomcast
