#include "sdp-checks.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace spec::sdp {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// Collapses runs of blanks to one space and trims: "nack  pli " -> "nack pli".
std::string squash(const std::string &s) {
  std::string out;
  bool blank = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

bool is_number(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return isdigit(c); });
}

bool is_av(const GstSDPMedia *m) {
  const char *media = gst_sdp_media_get_media(m);
  return g_strcmp0(media, "video") == 0 || g_strcmp0(media, "audio") == 0;
}

std::string where(guint index, const GstSDPMedia *m) {
  return "m-line " + std::to_string(index) + " (" + (gst_sdp_media_get_media(m) ?: "?") + ")";
}

// "<pt> <rest>" -> {pt, rest}; pt empty when the value has no blank.
std::pair<std::string, std::string> split_pt(const char *value) {
  std::string v = value ? value : "";
  auto sp = v.find(' ');
  if (sp == std::string::npos) return {v, ""};
  return {v.substr(0, sp), squash(v.substr(sp + 1))};
}

// Payload number -> encoding name (as written), from the a=rtpmap lines of one m-line.
std::map<std::string, std::string> rtpmaps(const GstSDPMedia *m) {
  std::map<std::string, std::string> out;
  for (guint i = 0;; i++) {
    const char *v = gst_sdp_media_get_attribute_val_n(m, "rtpmap", i);
    if (!v) break;
    auto [pt, rest] = split_pt(v);
    out[pt] = rest.substr(0, rest.find('/'));
  }
  return out;
}

std::vector<std::string> formats(const GstSDPMedia *m) {
  std::vector<std::string> out;
  for (guint i = 0; i < gst_sdp_media_formats_len(m); i++)
    out.push_back(gst_sdp_media_get_format(m, i));
  return out;
}

bool helper_format(const std::string &encoding) {
  std::string e = lower(encoding);
  return e == "rtx" || e == "red" || e == "ulpfec" || g_str_has_prefix(e.c_str(), "flexfec");
}

// "a=1;b=2" -> {a: 1, b: 2} (keys lower-cased).
std::map<std::string, std::string> fmtp_params(const std::string &params) {
  std::map<std::string, std::string> out;
  gchar **parts = g_strsplit(params.c_str(), ";", -1);
  for (gchar **p = parts; *p; p++) {
    std::string kv = squash(*p);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    out[lower(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  g_strfreev(parts);
  return out;
}

} // namespace

std::string describe(const Problems &problems) {
  if (problems.empty()) return "ok";
  std::string out;
  for (const auto &p : problems)
    out += (out.empty() ? "" : "; ") + p;
  return out;
}

void add(Problems &into, const Problems &more) {
  into.insert(into.end(), more.begin(), more.end());
}

GstSDPMessage *parse(const std::string &text) {
  if (text.rfind("v=", 0) != 0 && text.find("\nv=") == std::string::npos) return nullptr;
  GstSDPMessage *msg = nullptr;
  if (gst_sdp_message_new_from_text(text.c_str(), &msg) != GST_SDP_OK) {
    if (msg) gst_sdp_message_free(msg);
    return nullptr;
  }
  return msg;
}

std::string direction(const GstSDPMessage *msg, guint index) {
  static const char *kinds[] = {"sendonly", "recvonly", "sendrecv", "inactive"};
  const GstSDPMedia *m = gst_sdp_message_get_media(msg, index);
  for (const char *k : kinds)
    if (m && gst_sdp_media_get_attribute_val(m, k)) return k;
  for (const char *k : kinds)
    if (gst_sdp_message_get_attribute_val(msg, k)) return k;
  return "sendrecv";
}

Problems check_directions(const GstSDPMessage *msg, const std::string &expected) {
  Problems out;
  int seen = 0;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    if (!is_av(m)) continue;
    seen++;
    if (gst_sdp_media_get_port(m) == 0 && !gst_sdp_media_get_attribute_val(m, "bundle-only"))
      out.push_back(where(i, m) + " is rejected (port 0)");
    std::string d = direction(msg, i);
    if (d != expected) out.push_back(where(i, m) + " is " + d + ", expected " + expected);
  }
  if (seen == 0) out.push_back("no audio or video m-line");
  return out;
}

Problems check_rtpmaps(const GstSDPMessage *msg) {
  Problems out;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    if (!is_av(m)) continue;
    auto maps = rtpmaps(m);
    auto fmts = formats(m);
    std::set<std::string> listed(fmts.begin(), fmts.end());
    if (fmts.empty()) out.push_back(where(i, m) + " lists no payload");
    for (const auto &f : fmts) {
      if (!is_number(f))
        out.push_back(where(i, m) + ": payload '" + f + "' is not a number");
      else if (!maps.contains(f))
        out.push_back(where(i, m) + ": payload " + f + " has no rtpmap");
    }
    for (const char *attr : {"rtpmap", "fmtp", "rtcp-fb"})
      for (guint k = 0;; k++) {
        const char *v = gst_sdp_media_get_attribute_val_n(m, attr, k);
        if (!v) break;
        std::string pt = split_pt(v).first;
        if (pt != "*" && !listed.contains(pt))
          out.push_back(where(i, m) + ": a=" + attr + " for payload " + pt +
                        " which the m-line does not list");
      }
  }
  return out;
}

Problems check_codecs(const GstSDPMessage *msg, const std::string &media,
                      const std::vector<std::string> &codecs) {
  Problems out;
  std::set<std::string> want;
  for (const auto &c : codecs)
    want.insert(upper(c));
  int seen = 0;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), media.c_str()) != 0) continue;
    seen++;
    std::set<std::string> got;
    for (const auto &[pt, enc] : rtpmaps(m))
      if (!helper_format(enc)) got.insert(upper(enc));
    if (got != want) {
      std::string g, w;
      for (const auto &s : got)
        g += (g.empty() ? "" : ",") + s;
      for (const auto &s : want)
        w += (w.empty() ? "" : ",") + s;
      out.push_back(where(i, m) + " offers {" + g + "}, expected {" + w + "}");
    }
  }
  if (seen == 0) out.push_back("no " + media + " m-line");
  return out;
}

Problems check_feedback(const GstSDPMessage *msg, const std::string &media,
                        const std::string &codec, const std::vector<std::string> &feedback) {
  Problems out;
  int seen = 0;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), media.c_str()) != 0) continue;
    std::map<std::string, std::set<std::string>> fb; // payload (or *) -> values
    for (guint k = 0;; k++) {
      const char *v = gst_sdp_media_get_attribute_val_n(m, "rtcp-fb", k);
      if (!v) break;
      auto [pt, rest] = split_pt(v);
      fb[pt].insert(lower(rest));
    }
    for (const auto &[pt, enc] : rtpmaps(m)) {
      if (upper(enc) != upper(codec)) continue;
      seen++;
      for (const auto &want : feedback) {
        std::string w = lower(squash(want));
        if (!fb[pt].contains(w) && !fb["*"].contains(w))
          out.push_back(where(i, m) + ": " + codec + " payload " + pt + " lacks a=rtcp-fb " + w);
      }
    }
  }
  if (seen == 0) out.push_back("no " + codec + " payload in " + media);
  return out;
}

Problems check_h264(const GstSDPMessage *msg, const std::string &profile_prefix) {
  Problems out;
  int seen = 0;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(msg, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "video") != 0) continue;
    std::map<std::string, std::string> fmtps;
    for (guint k = 0;; k++) {
      const char *v = gst_sdp_media_get_attribute_val_n(m, "fmtp", k);
      if (!v) break;
      auto [pt, rest] = split_pt(v);
      fmtps[pt] = rest;
    }
    for (const auto &[pt, enc] : rtpmaps(m)) {
      if (upper(enc) != "H264") continue;
      seen++;
      std::string at = where(i, m) + ": H264 payload " + pt;
      if (!fmtps.contains(pt)) {
        out.push_back(at + " has no a=fmtp");
        continue;
      }
      auto params = fmtp_params(fmtps[pt]);
      if (params["packetization-mode"] != "1")
        out.push_back(at + " has packetization-mode '" + params["packetization-mode"] +
                      "', expected 1");
      const std::string &plid = params["profile-level-id"];
      bool hex = plid.size() == 6 &&
                 std::all_of(plid.begin(), plid.end(), [](unsigned char c) { return isxdigit(c); });
      if (!hex)
        out.push_back(at + " has profile-level-id '" + plid + "', not six hex digits");
      else if (lower(plid.substr(0, 4)) != lower(profile_prefix))
        out.push_back(at + " has profile-level-id " + plid + ", expected " + profile_prefix + "xx");
    }
  }
  if (seen == 0) out.push_back("no H264 payload");
  return out;
}

std::string h264_profile_prefix(const std::string &caps_profile) {
  if (caps_profile == "constrained-baseline") return "42e0";
  if (caps_profile == "baseline") return "4200";
  if (caps_profile == "main") return "4d00";
  if (caps_profile == "high") return "6400";
  return "";
}

} // namespace spec::sdp
