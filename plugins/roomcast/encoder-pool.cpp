#include "encoder-pool.h"

#include <gst/rtp/rtp.h>
#include <gst/video/video.h>

#include <cmath>
#include <condition_variable>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(roomcast_pool_debug);
#define GST_CAT_DEFAULT roomcast_pool_debug

namespace roomcast {

namespace {

// libvpx encoder threads for a picture size. Its threads meet at every macroblock row by spinning,
// and on a loaded machine a spinning thread burns the core its partner needs: measured here
// (VP8 realtime, 2 cores), 640x360@15 costs 8% of a core on one thread and 23% on two; 1280x720@30
// 52% and 72%. One thread keeps up to 1280x720@30 (about 17 ms a frame); above that, two.
int vpx_threads_for(int width, int height) {
  return (width > 0 && height > 0 && gint64(width) * height > 1280 * 720) ? 2 : 1;
}

// Realtime VP8/VP9: no lookahead, CBR, a long GOP (peers ask for keyframes when they need them).
void configure_vpx(GstElement *enc, const EncoderParams &p) {
  g_object_set(enc, "deadline", G_GINT64_CONSTANT(1), "target-bitrate", gint(p.kbps * 1000),
               "lag-in-frames", 0, "keyframe-max-dist", 600, "threads",
               vpx_threads_for(p.width, p.height), "cpu-used", 8, nullptr);
  gst_util_set_object_arg(G_OBJECT(enc), "end-usage", "cbr");
  gst_util_set_object_arg(G_OBJECT(enc), "error-resilient", "default");
}

void configure_vp9(GstElement *enc, const EncoderParams &p) {
  configure_vpx(enc, p);
  g_object_set(enc, "row-mt", TRUE, nullptr);
}

void configure_x264(GstElement *enc, const EncoderParams &p) {
  gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
  gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", "ultrafast");
  g_object_set(enc, "bitrate", p.kbps, "key-int-max", 600, "b-adapt", FALSE, "bframes", 0, nullptr);
}

void configure_opus(GstElement *enc, const EncoderParams &) {
  g_object_set(enc, "bitrate", 64000, nullptr);
  gst_util_set_object_arg(G_OBJECT(enc), "audio-type", "voice");
}

// Any encoder: a bitrate property in bit/s (`target-bitrate`) or kbit/s (`bitrate`).
void set_any_bitrate(GstElement *enc, guint kbps) {
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(enc), "target-bitrate"))
    g_object_set(enc, "target-bitrate", gint(kbps * 1000), nullptr);
  else if (g_object_class_find_property(G_OBJECT_GET_CLASS(enc), "bitrate"))
    g_object_set(enc, "bitrate", kbps, nullptr);
}

void keep_bitrate(GstElement *, guint) {}

const CodecSpec kCodecs[] = {
    {Media::Video, Codec::VP8, "vp8", "VP8", "video/x-vp8", "vp8enc", nullptr, "rtpvp8pay", 96,
     configure_vpx, set_any_bitrate},
    {Media::Video, Codec::VP9, "vp9", "VP9", "video/x-vp9", "vp9enc", nullptr, "rtpvp9pay", 98,
     configure_vp9, set_any_bitrate},
    {Media::Video, Codec::H264, "h264", "H264", "video/x-h264", "x264enc",
     "video/x-h264,profile=constrained-baseline", "rtph264pay", 102, configure_x264,
     set_any_bitrate},
};
const CodecSpec kOpus = {Media::Audio, Codec::VP8, "opus",       "OPUS", "audio/x-opus",
                         "opusenc",    nullptr,    "rtpopuspay", 111,    configure_opus,
                         keep_bitrate};

void init_debug() {
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    GST_DEBUG_CATEGORY_INIT(roomcast_pool_debug, "roomcastpool", 0, "roomcast encoder pool");
    g_once_init_leave(&done, 1);
  }
}

GstElement *make(const char *factory, GError **err) {
  GstElement *e = gst_element_factory_make(factory, nullptr);
  if (!e)
    g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                "missing element '%s' (is its GStreamer plugin installed?)", factory);
  return e;
}

GstElement *make_capsfilter(const char *caps, GError **err) {
  GstElement *f = make("capsfilter", err);
  if (f) {
    GstCaps *c = gst_caps_from_string(caps);
    g_object_set(f, "caps", c, nullptr);
    gst_caps_unref(c);
  }
  return f;
}

} // namespace

const CodecSpec &codec_spec(Codec codec) {
  for (const CodecSpec &s : kCodecs)
    if (s.codec == codec) return s;
  return kCodecs[0];
}

const CodecSpec &opus_spec() {
  return kOpus;
}

const CodecSpec *codec_spec_for_caps(const char *caps_name) {
  for (const CodecSpec &s : kCodecs)
    if (g_str_equal(s.encoded_caps, caps_name)) return &s;
  if (g_str_equal(kOpus.encoded_caps, caps_name)) return &kOpus;
  return nullptr;
}

// The lowest H.264 level (level_idc) whose limits hold `width`x`height` at `fps` (H.264 Table
// frame size and macroblock rate), never below 3.1 (what every browser accepts).
int h264_level_for(int width, int height, double fps) {
  struct Level {
    int idc;
    long max_fs, max_mbps;
  };
  static const Level levels[] = {{31, 3600, 108000},  {32, 5120, 216000},  {40, 8192, 245760},
                                 {42, 8704, 522240},  {50, 22080, 589824}, {51, 36864, 983040},
                                 {52, 36864, 2073600}};
  long fs = long((width + 15) / 16) * ((height + 15) / 16);
  long mbps = long(double(fs) * (fps > 0 ? fps : 30));
  for (const Level &l : levels)
    if (fs <= l.max_fs && mbps <= l.max_mbps) return l.idc;
  return 52;
}

// The profile-level-id we advertise for an H.264 stream: the input's profile (our encoder makes
// constrained baseline) at a level that covers its picture size. Pinned (see build) so a change
// of resolution never changes the RTP caps mid-stream.
std::string h264_profile_level_id(const GstCaps *input) {
  const GstStructure *s =
      input && !gst_caps_is_empty(input) ? gst_caps_get_structure(input, 0) : nullptr;
  const char *profile = s ? gst_structure_get_string(s, "profile") : nullptr;
  const char *prefix = "42e0"; // constrained baseline
  if (profile && g_str_equal(profile, "baseline"))
    prefix = "4200";
  else if (profile && g_str_equal(profile, "main"))
    prefix = "4d00";
  else if (profile &&
           (g_str_has_prefix(profile, "high") || g_str_has_prefix(profile, "progressive-high") ||
            g_str_has_prefix(profile, "constrained-high")))
    prefix = "6400"; // high and its variants: decoders that take High take these as High
  int width = 0, height = 0, fn = 0, fd = 1;
  if (s) {
    gst_structure_get_int(s, "width", &width);
    gst_structure_get_int(s, "height", &height);
    gst_structure_get_fraction(s, "framerate", &fn, &fd);
  }
  int level = h264_level_for(width > 0 ? width : 1280, height > 0 ? height : 720,
                             fn > 0 && fd > 0 ? double(fn) / fd : 30);
  // A level the stream itself declares wins when it is higher.
  if (const char *lv = s ? gst_structure_get_string(s, "level") : nullptr) {
    int declared = int(g_ascii_strtod(lv, nullptr) * 10 + 0.5);
    if (g_str_equal(lv, "1b")) declared = 11;
    if (declared > level) level = declared;
  }
  char buf[8];
  g_snprintf(buf, sizeof buf, "%s%02x", prefix, level);
  return buf;
}

GstCaps *offer_caps(const CodecSpec &spec, const char *profile_level_id) {
  if (spec.media == Media::Audio)
    return gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "audio",
                               "encoding-name", G_TYPE_STRING, spec.encoding_name, "payload",
                               G_TYPE_INT, spec.payload_type, "clock-rate", G_TYPE_INT, 48000,
                               "encoding-params", G_TYPE_STRING, "2", nullptr);
  GstCaps *caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
      spec.encoding_name, "payload", G_TYPE_INT, spec.payload_type, "clock-rate", G_TYPE_INT, 90000,
      "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE, "rtcp-fb-ccm-fir", G_TYPE_BOOLEAN, TRUE,
      "rtcp-fb-nack", G_TYPE_BOOLEAN, TRUE, nullptr);
  if (spec.codec == Codec::H264)
    gst_caps_set_simple(caps, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id",
                        G_TYPE_STRING, profile_level_id ? profile_level_id : "42e01f",
                        "level-asymmetry-allowed", G_TYPE_STRING, "1", nullptr);
  return caps;
}

struct EncoderPool::Producer {
  EncoderPool *pool;
  Key key;
  const CodecSpec *spec;
  GstElement *encoder = nullptr; // owned by the bin; null for encoded input
  GstElement *tee = nullptr;     // owned by the bin (a ladder: the shared tee, layer 0 only)
  GstCaps *codec_caps = nullptr; // ref
  KeyframeLimiter limiter;       // (pool lock)
  std::atomic<guint64> frames{0};
  std::atomic<guint64> encoded{0}; // a ladder's layer: frames its encoder made
  // Where keyframe requests are watched and merged ones pushed upstream: the tee's sink pad, or a
  // ladder layer's funnel pad (ref).
  GstPad *kf_pad = nullptr;
  double share = 1.0;                   // of the set bitrate (ladder layers)
  std::vector<LadderLayer> layers;      // layer 0 of a ladder: all of them
  std::shared_ptr<LadderDemand> demand; // layer 0 of a ladder: the holds on its layers
  ~Producer() {
    if (codec_caps) gst_caps_unref(codec_caps);
    if (kf_pad) gst_object_unref(kf_pad);
  }
};

EncoderPool::EncoderPool(GstElement *bin, Hooks hooks) : bin_(bin), hooks_(std::move(hooks)) {
  init_debug();
}

EncoderPool::~EncoderPool() {
  if (ctx_) g_main_context_unref(ctx_);
}

void EncoderPool::set_context(GMainContext *ctx) {
  std::lock_guard l(lock_);
  if (ctx_) g_main_context_unref(ctx_);
  ctx_ = ctx ? g_main_context_ref(ctx) : nullptr;
}

void EncoderPool::set_keyframe_interval(guint ms) {
  std::lock_guard l(lock_);
  keyframe_interval_ms_ = ms;
  for (auto &[k, p] : producers_)
    p->limiter.set_interval(gint64(ms) * 1000);
}

GstElement *EncoderPool::make_encoder(const CodecSpec &spec, const EncoderParams &params,
                                      GError **err) {
  GstElement *enc = hooks_.create_encoder ? hooks_.create_encoder(spec) : nullptr;
  if (enc) {
    GST_INFO_OBJECT(bin_, "%s: the application's encoder %s", spec.nick, GST_ELEMENT_NAME(enc));
    set_any_bitrate(enc, params.kbps);
  } else {
    enc = make(spec.encoder, err);
    if (!enc) return nullptr;
    spec.configure(enc, params);
  }
  g_autofree char *name = g_strdup_printf("%s-encoder-0", spec.nick);
  gst_object_set_name(GST_OBJECT(enc), name);
  if (hooks_.encoder_setup) hooks_.encoder_setup(spec, enc);
  return enc;
}

std::optional<EncoderPool::Key> EncoderPool::build(Media media, GstElement *upstream,
                                                   const GstCaps *caps, Codec codec,
                                                   const EncoderParams &params, GError **err) {
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const char *name = gst_structure_get_name(s);
  bool raw = g_str_equal(name, media == Media::Video ? "video/x-raw" : "audio/x-raw");
  const CodecSpec *spec =
      raw ? (media == Media::Video ? &codec_spec(codec) : &opus_spec()) : codec_spec_for_caps(name);
  if (!spec || spec->media != media) {
    g_set_error(err, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, "unsupported %s input %s",
                media == Media::Video ? "video" : "audio", name);
    return std::nullopt;
  }
  if (raw && media == Media::Video && spec->codec == Codec::VP8 && params.ladder.size() > 1)
    return build_ladder(upstream, caps, *spec, params, err);
  std::vector<GstElement *> chain; // floating until added
  auto fail = [&]() -> std::optional<Key> {
    for (GstElement *e : chain)
      gst_object_unref(gst_object_ref_sink(e));
    return std::nullopt;
  };
  auto push = [&](GstElement *e) {
    if (e) chain.push_back(e);
    return e != nullptr;
  };
  auto producer = std::make_unique<Producer>();
  producer->pool = this;
  producer->spec = spec;
  producer->key = Key{media, spec->codec, 0};
  GstElement *counted = nullptr; // frames are counted where it takes them (one buffer a frame)
  if (raw) {
    EncoderParams p = params;
    if (media == Media::Video) {
      gst_structure_get_int(s, "width", &p.width);
      gst_structure_get_int(s, "height", &p.height);
      if (!push(make("videoconvert", err)) ||
          !push(make_capsfilter("video/x-raw,format=I420", err)))
        return fail();
    } else if (!push(make("audioconvert", err)) || !push(make("audioresample", err))) {
      return fail();
    }
    GstElement *enc = make_encoder(*spec, p, err);
    if (!push(enc)) return fail();
    producer->encoder = enc;
    if (spec->encoder_caps && !push(make_capsfilter(spec->encoder_caps, err))) return fail();
  } else if (spec->codec == Codec::H264 && media == Media::Video) {
    GstElement *parse = make("h264parse", err);
    if (!push(parse)) return fail();
    g_object_set(parse, "config-interval", -1, nullptr);
  }
  GstElement *pay = make(spec->payloader, err);
  if (!push(pay)) return fail();
  g_autofree char *pay_name = g_strdup_printf("%s-pay-%d", spec->nick, producer->key.layer);
  gst_object_set_name(GST_OBJECT(pay), pay_name);
  counted = pay;
  // The stream's ssrc is chosen here and written into the codec caps (the peers' codec
  // preferences): webrtcbin signals the media ssrc, and with do-nack its rtx pairing
  // (a=ssrc-group:FID media rtx, rtprtxsend's ssrc map), from those caps. Without it an answer
  // made before the first buffer reached webrtcbin paired rtx with ssrc 0, and Chromium bound the
  // track to that ssrc: it decoded the real one into no track (no picture in the tiles).
  const guint ssrc = g_random_int();
  g_object_set(pay, "pt", spec->payload_type, "mtu", 1200, "ssrc", ssrc, nullptr);
  std::string plid;
  if (media == Media::Video && spec->codec == Codec::H264) {
    // Raw input: our encoder's constrained baseline at the input's size.
    g_autoptr(GstCaps) described = raw ? gst_caps_copy(caps) : nullptr;
    if (described) gst_structure_remove_field(gst_caps_get_structure(described, 0), "profile");
    plid = h264_profile_level_id(raw ? described : caps);
    g_object_set(pay, "config-interval", -1, nullptr);
    gst_util_set_object_arg(G_OBJECT(pay), "aggregate-mode", "zero-latency");
    // The payloader derives profile-level-id from each SPS; webrtcbin refuses caps that differ
    // from what was negotiated (and not-negotiated would stop every peer). Pin it.
    GstElement *pin = make("capssetter", err);
    if (!push(pin)) return fail();
    GstCaps *pc = gst_caps_new_simple("application/x-rtp", "profile-level-id", G_TYPE_STRING,
                                      plid.c_str(), nullptr);
    g_object_set(pin, "caps", pc, nullptr);
    gst_caps_unref(pc);
  } else if (media == Media::Video) {
    gst_util_set_object_arg(G_OBJECT(pay), "picture-id-mode", "15-bit");
  }
  GstElement *tee = make("tee", err);
  if (!push(tee)) return fail();
  g_autofree char *tee_name = g_strdup_printf("%s-tee-%d", spec->nick, producer->key.layer);
  gst_object_set_name(GST_OBJECT(tee), tee_name);
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);
  producer->tee = tee;
  producer->codec_caps = offer_caps(*spec, plid.empty() ? nullptr : plid.c_str());
  gst_caps_set_simple(producer->codec_caps, "ssrc", G_TYPE_UINT, ssrc, nullptr);
  {
    std::lock_guard l(lock_);
    producer->limiter.set_interval(gint64(keyframe_interval_ms_) * 1000);
  }

  for (GstElement *e : chain)
    gst_bin_add(GST_BIN(bin_), e);
  std::vector<GstElement *> added = std::exchange(chain, {}); // the bin owns them now
  GstElement *prev = upstream;
  for (GstElement *e : added) {
    if (!gst_element_link(prev, e)) {
      g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                  "cannot link the encoding chain (%s ! %s)", GST_ELEMENT_NAME(prev),
                  GST_ELEMENT_NAME(e));
      for (GstElement *x : added) {
        gst_element_set_state(x, GST_STATE_NULL);
        gst_bin_remove(GST_BIN(bin_), x);
      }
      return std::nullopt;
    }
    prev = e;
  }
  Producer *raw_p = producer.get();
  if (media == Media::Video) {
    GstPad *tee_sink = gst_element_get_static_pad(tee, "sink");
    raw_p->kf_pad = tee_sink; // adopts the ref
    gst_pad_add_probe(tee_sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_keyframe_request, raw_p,
                      nullptr);
    g_autoptr(GstPad) counted_sink = gst_element_get_static_pad(counted, "sink");
    gst_pad_add_probe(counted_sink, GST_PAD_PROBE_TYPE_BUFFER, on_frame, raw_p, nullptr);
  }
  Key key = producer->key;
  {
    std::lock_guard l(lock_);
    producers_[key] = std::move(producer);
  }
  for (GstElement *e : added)
    sync_to_target(e);
  GST_INFO_OBJECT(bin_, "%s producer built for %s input", spec->nick, name);
  return key;
}

GstPad *EncoderPool::add_input(Media media, GError **err) {
  auto in = std::make_unique<Input>();
  in->media = media;
  g_autofree char *qname = g_strdup_printf("%s-in", media == Media::Video ? "video" : "audio");
  in->queue = gst_element_factory_make("queue", qname);
  if (!in->queue) {
    g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, "missing element 'queue'");
    return nullptr;
  }
  // Never build latency before the encoder: keep the newest frames.
  g_object_set(in->queue, "max-size-buffers", 3, "max-size-bytes", 0, "max-size-time", guint64(0),
               nullptr);
  gst_util_set_object_arg(G_OBJECT(in->queue), "leaky", "downstream");
  gst_bin_add(GST_BIN(bin_), in->queue);
  g_autoptr(GstPad) src = gst_element_get_static_pad(in->queue, "src");
  in->queue_src = src;
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_input_caps, this, nullptr);
  g_autoptr(GstPad) sink = gst_element_get_static_pad(in->queue, "sink");
  std::lock_guard l(lock_);
  inputs_.push_back(std::move(in));
  return sink;
}

bool EncoderPool::has_input(Media media) const {
  std::lock_guard l(lock_);
  for (auto &in : inputs_)
    if (in->media == media) return true;
  return false;
}

bool EncoderPool::remove_input(GstPad *sink_pad) {
  GstElement *queue = nullptr;
  {
    std::lock_guard l(lock_);
    for (auto it = inputs_.begin(); it != inputs_.end(); ++it)
      if (GST_PAD_PARENT(sink_pad) == (*it)->queue) {
        if ((*it)->key) return false;
        queue = (*it)->queue;
        inputs_.erase(it);
        break;
      }
  }
  if (!queue) return false;
  gst_element_set_state(queue, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(bin_), queue);
  return true;
}

bool EncoderPool::inputs_ready() const {
  std::lock_guard l(lock_);
  if (inputs_.empty()) return false;
  for (auto &in : inputs_)
    if (!in->ready) return false;
  return true;
}

std::vector<SendSource> EncoderPool::sources() const {
  std::vector<SendSource> out;
  std::lock_guard l(lock_);
  for (auto &in : inputs_)
    if (in->key)
      if (auto it = producers_.find(*in->key); it != producers_.end())
        out.push_back(SendSource{it->second->tee, it->second->codec_caps, it->second->layers,
                                 it->second->demand});
  return out;
}

// Streaming thread: caps reached a producer's tee.
GstPadProbeReturn EncoderPool::on_tee_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  auto *pool = static_cast<EncoderPool *>(data);
  {
    std::lock_guard l(pool->lock_);
    for (auto &in : pool->inputs_)
      if (in->tee_sink == pad) in->ready = true;
  }
  if (pool->inputs_ready() && pool->hooks_.inputs_ready) pool->hooks_.inputs_ready();
  return GST_PAD_PROBE_REMOVE;
}

// An input queue's streaming thread: its first caps.
GstPadProbeReturn EncoderPool::on_input_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  auto *pool = static_cast<EncoderPool *>(data);
  GstCaps *caps = nullptr;
  gst_event_parse_caps(ev, &caps);
  bool built = false;
  GMainContext *ctx;
  {
    std::lock_guard l(pool->lock_);
    ctx = pool->ctx_ ? g_main_context_ref(pool->ctx_) : nullptr;
  }
  if (!ctx || g_main_context_is_owner(ctx)) {
    pool->build_input(pad, caps, built);
  } else {
    // The topology changes only on the worker: build there and wait.
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    invoke_on(ctx, [&]() {
      pool->build_input(pad, caps, built);
      std::lock_guard l(m);
      done = true;
      cv.notify_one();
    });
    std::unique_lock l(m);
    cv.wait(l, [&] { return done; });
  }
  if (ctx) g_main_context_unref(ctx);
  // Linked now: the caps event goes on to the new chain.
  return built ? GST_PAD_PROBE_REMOVE : GST_PAD_PROBE_DROP;
}

void EncoderPool::build_input(GstPad *queue_src, const GstCaps *caps, bool &built) {
  Input *in = nullptr;
  {
    std::lock_guard l(lock_);
    for (auto &i : inputs_)
      if (i->queue_src == queue_src) in = i.get();
    if (!in || in->key) {
      built = in != nullptr;
      return;
    }
  }
  Codec codec = Codec::VP8;
  EncoderParams params;
  if (hooks_.input_settings) hooks_.input_settings(codec, params);
  g_autoptr(GError) err = nullptr;
  auto key = build(in->media, in->queue, caps, codec, params, &err);
  if (!key) {
    if (hooks_.build_failed) hooks_.build_failed(err);
    return;
  }
  GstPad *tee_sink = gst_element_get_static_pad(source(*key)->tee, "sink");
  {
    std::lock_guard l(lock_);
    in->key = key;
    in->tee_sink = tee_sink;
  }
  gst_pad_add_probe(tee_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_tee_caps, this, nullptr);
  gst_object_unref(tee_sink); // the tee keeps it
  built = true;
}

std::optional<SendSource> EncoderPool::source(const Key &key) const {
  std::lock_guard l(lock_);
  auto it = producers_.find(key);
  if (it == producers_.end()) return std::nullopt;
  return SendSource{it->second->tee, it->second->codec_caps, it->second->layers,
                    it->second->demand};
}

std::vector<LadderLayer> EncoderPool::ladder() const {
  std::lock_guard l(lock_);
  for (auto &[k, p] : producers_)
    if (k.media == Media::Video && !p->layers.empty()) return p->layers;
  return {};
}

void EncoderPool::set_bitrate(guint kbps) {
  std::vector<std::tuple<const CodecSpec *, GstElement *, double>> encoders;
  {
    std::lock_guard l(lock_);
    for (auto &[k, p] : producers_)
      if (p->encoder && k.media == Media::Video)
        encoders.emplace_back(p->spec, GST_ELEMENT(gst_object_ref(p->encoder)), p->share);
    for (auto &[k, p] : producers_)
      for (LadderLayer &l : p->layers)
        l.bps = kbps * 1000.0 * ladder_share(double(l.width) / std::max(1, p->layers[0].width));
  }
  for (auto &[spec, enc, share] : encoders) {
    spec->set_bitrate(enc, std::max(1u, guint(kbps * share + 0.5)));
    gst_object_unref(enc);
  }
}

EncoderPool::Counters EncoderPool::counters() const {
  Counters c;
  std::lock_guard l(lock_);
  for (auto &[k, p] : producers_) {
    if (k.media != Media::Video) continue;
    c.frames += p->frames;
    if (p->demand)
      for (size_t i = 0; i < p->layers.size(); i++) {
        auto layer = producers_.find(Key{k.media, k.codec, int(i)});
        c.layer_frames.push_back(layer != producers_.end() ? layer->second->encoded.load() : 0);
        c.layer_holders.push_back(p->demand->holders(i));
      }
    c.keyframes_forwarded += p->limiter.forwarded();
    c.keyframes_merged += p->limiter.merged();
  }
  return c;
}

double ladder_share(double scale) {
  return scale >= 1.0 ? 1.0 : std::pow(scale, 1.5);
}

bool parse_congestion_feedback(const char *text, bool &twcc, bool &remb) {
  twcc = remb = false;
  if (!text) return false;
  if (g_str_equal(text, "none")) return true;
  g_auto(GStrv) parts = g_strsplit(text, ",", -1);
  for (char **p = parts; *p; p++) {
    g_strstrip(*p);
    if (g_str_equal(*p, "twcc") && !twcc)
      twcc = true;
    else if (g_str_equal(*p, "remb") && !remb)
      remb = true;
    else
      return false;
  }
  return twcc || remb;
}

bool parse_ladder(const char *text, std::vector<double> &out, std::string &error) {
  out.clear();
  if (!text || !*text || g_str_equal(text, "off") || g_str_equal(text, "1")) return true;
  g_auto(GStrv) parts = g_strsplit(text, ",", -1);
  for (char **p = parts; *p; p++) {
    char *end = nullptr;
    g_strstrip(*p);
    double v = g_ascii_strtod(*p, &end);
    if (!**p || !end || *end || !(v > 0.0) || v > 1.0) {
      error = std::string("ladder: '") + *p + "' is not a scale in (0, 1]";
      out.clear();
      return false;
    }
    if (!out.empty() && v >= out.back()) {
      error = "ladder: scales must be descending (e.g. 1,0.5,0.25)";
      out.clear();
      return false;
    }
    out.push_back(v);
  }
  if (out.empty() || out[0] != 1.0) {
    error = "ladder: the first layer must be 1 (full size)";
    out.clear();
    return false;
  }
  if (out.size() > 4) {
    error = "ladder: at most 4 layers";
    out.clear();
    return false;
  }
  if (out.size() == 1) out.clear();
  return true;
}

namespace {
void set_ssrc(GstBuffer *buf, guint ssrc) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (gst_rtp_buffer_map(buf, GST_MAP_READWRITE, &rtp)) {
    gst_rtp_buffer_set_ssrc(&rtp, ssrc);
    gst_rtp_buffer_unmap(&rtp);
  }
}

// A ladder layer's payloader output: its packets carry the layer's own ssrc.
GstPadProbeReturn mark_layer(GstPad *, GstPadProbeInfo *info, gpointer data) {
  const guint ssrc = GPOINTER_TO_UINT(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
    set_ssrc(buf, ssrc);
    GST_PAD_PROBE_INFO_DATA(info) = buf;
  } else {
    GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    gst_buffer_list_foreach(
        list,
        [](GstBuffer **b, guint, gpointer d) -> gboolean {
          *b = gst_buffer_make_writable(*b);
          set_ssrc(*b, GPOINTER_TO_UINT(d));
          return TRUE;
        },
        GUINT_TO_POINTER(ssrc));
    GST_PAD_PROBE_INFO_DATA(info) = list;
  }
  return GST_PAD_PROBE_OK;
}
} // namespace

// Worker: raw video encoded as a ladder. `upstream ! videoconvert ! I420 ! tee(raw)`, then per
// layer `queue ! videoscale ! WxH ! vp8enc ! rtpvp8pay ! capssetter ! funnel`, then one
// `funnel ! tee` that every peer's branch is fed from. Every layer's payloader has its own ssrc
// (the branch tells layers apart by it), the same timestamp base (the layers' RTP timestamps
// agree) and the same caps after the capssetter (the signalled ssrc), so the funnel's caps never
// change. Layer 0 is the producer peers see; each layer has a producer of its own (its encoder,
// its keyframe limiter).
std::optional<EncoderPool::Key> EncoderPool::build_ladder(GstElement *upstream, const GstCaps *caps,
                                                          const CodecSpec &spec,
                                                          const EncoderParams &params,
                                                          GError **err) {
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  int width = 0, height = 0;
  gst_structure_get_int(s, "width", &width);
  gst_structure_get_int(s, "height", &height);
  std::vector<GstElement *> chain; // floating until added
  auto fail = [&]() -> std::optional<Key> {
    for (GstElement *e : chain)
      gst_object_unref(gst_object_ref_sink(e));
    return std::nullopt;
  };
  auto push = [&](GstElement *e) {
    if (e) chain.push_back(e);
    return e != nullptr;
  };
  GstElement *convert = make("videoconvert", err);
  if (!push(convert)) return fail();
  GstElement *i420 = make_capsfilter("video/x-raw,format=I420", err);
  if (!push(i420)) return fail();
  GstElement *raw_tee = make("tee", err);
  if (!push(raw_tee)) return fail();
  gst_object_set_name(GST_OBJECT(raw_tee), "vp8-raw-tee");
  GstElement *funnel = make("funnel", err);
  if (!push(funnel)) return fail();
  gst_object_set_name(GST_OBJECT(funnel), "vp8-ladder-funnel");
  // The layers' caps and segments are the same: re-sent at every change of layer, they reached
  // webrtcbin between frames and its SRTP encoder lost a packet at each.
  g_object_set(funnel, "forward-sticky-events", FALSE, nullptr);
  GstElement *tee = make("tee", err);
  if (!push(tee)) return fail();
  gst_object_set_name(GST_OBJECT(tee), "vp8-tee-0");
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);

  const guint main_ssrc = g_random_int();
  const guint ts_offset = g_random_int();
  const guint seq_offset = g_random_int_range(0, 0x8000);
  struct LayerChain {
    std::unique_ptr<Producer> producer;
    std::vector<GstElement *> elements; // queue .. capssetter, in order
  };
  std::vector<LayerChain> layers;
  std::vector<LadderLayer> infos;
  bool twcc = params.twcc; // and the header extension exists (gst-plugins-good 1.20+)
  for (size_t i = 0; i < params.ladder.size(); i++) {
    const double scale = params.ladder[i];
    LayerChain lc;
    lc.producer = std::make_unique<Producer>();
    Producer &p = *lc.producer;
    p.pool = this;
    p.spec = &spec;
    p.key = Key{Media::Video, spec.codec, int(i)};
    p.share = ladder_share(scale);
    LadderLayer info;
    info.width = std::max(2, int(width * scale) & ~1);
    info.height = std::max(2, int(height * scale) & ~1);
    info.ssrc = i == 0 ? main_ssrc : g_random_int();
    info.bps = params.kbps * 1000.0 * p.share;
    infos.push_back(info);
    GstElement *q = make("queue", err);
    if (!push(q)) return fail();
    g_object_set(q, "max-size-buffers", 3, "max-size-bytes", 0, "max-size-time", guint64(0),
                 nullptr);
    gst_util_set_object_arg(G_OBJECT(q), "leaky", "downstream");
    lc.elements.push_back(q);
    if (i > 0) {
      GstElement *scaler = make("videoscale", err);
      if (!push(scaler)) return fail();
      lc.elements.push_back(scaler);
      g_autofree char *sized =
          g_strdup_printf("video/x-raw,width=%d,height=%d", info.width, info.height);
      GstElement *cf = make_capsfilter(sized, err);
      if (!push(cf)) return fail();
      lc.elements.push_back(cf);
    }
    EncoderParams ep = params;
    ep.kbps = std::max(1u, guint(params.kbps * p.share + 0.5));
    ep.width = info.width;
    ep.height = info.height;
    GstElement *enc = nullptr;
    if (i == 0) {
      enc = make_encoder(spec, ep, err);
    } else if ((enc = make(spec.encoder, err))) {
      spec.configure(enc, ep);
      if (hooks_.encoder_setup) hooks_.encoder_setup(spec, enc);
    }
    if (!push(enc)) return fail();
    g_autofree char *enc_name = g_strdup_printf("%s-encoder-%zu", spec.nick, i);
    gst_object_set_name(GST_OBJECT(enc), enc_name);
    p.encoder = enc;
    lc.elements.push_back(enc);
    GstElement *pay = make(spec.payloader, err);
    if (!push(pay)) return fail();
    g_autofree char *pay_name = g_strdup_printf("%s-pay-%zu", spec.nick, i);
    gst_object_set_name(GST_OBJECT(pay), pay_name);
    g_object_set(pay, "pt", spec.payload_type, "mtu", 1200, "ssrc", info.ssrc, "timestamp-offset",
                 ts_offset, "seqnum-offset", int(seq_offset), nullptr);
    gst_util_set_object_arg(G_OBJECT(pay), "picture-id-mode", "15-bit");
    // Every packet carries the transport-wide sequence number's place; each viewer's RTP session
    // writes its own number there (rtpsession's TWCC manager only fills an extension already
    // present) and reads the viewer's transport-cc feedback against it.
    if (twcc) {
      if (GstRTPHeaderExtension *ext = gst_rtp_header_extension_create_from_uri(kTwccUri)) {
        gst_rtp_header_extension_set_id(ext, kTwccExtId);
        g_signal_emit_by_name(pay, "add-extension", ext);
        gst_object_unref(ext);
      } else {
        GST_WARNING("no rtphdrexttwcc: the ladder is offered without transport-cc");
        twcc = false;
      }
    }
    lc.elements.push_back(pay);
    GstElement *pin = make("capssetter", err);
    if (!push(pin)) return fail();
    GstCaps *pc = gst_caps_new_simple("application/x-rtp", "ssrc", G_TYPE_UINT, main_ssrc,
                                      "timestamp-offset", G_TYPE_UINT, ts_offset, "seqnum-offset",
                                      G_TYPE_UINT, seq_offset, nullptr);
    g_object_set(pin, "caps", pc, nullptr);
    gst_caps_unref(pc);
    lc.elements.push_back(pin);
    layers.push_back(std::move(lc));
  }
  Producer &top = *layers[0].producer;
  top.tee = tee;
  top.layers = infos;
  top.codec_caps = offer_caps(spec, nullptr);
  gst_caps_set_simple(top.codec_caps, "ssrc", G_TYPE_UINT, main_ssrc, nullptr);
  // Congestion feedback for the per-viewer estimate (LayerChooser): offered both ways, a browser
  // takes transport-cc when it can (send-side estimation) and REMB otherwise.
  if (twcc) {
    g_autofree char *field = g_strdup_printf("extmap-%u", kTwccExtId);
    gst_caps_set_simple(top.codec_caps, field, G_TYPE_STRING, kTwccUri, "rtcp-fb-transport-cc",
                        G_TYPE_BOOLEAN, TRUE, nullptr);
  }
  if (params.remb)
    gst_caps_set_simple(top.codec_caps, "rtcp-fb-goog-remb", G_TYPE_BOOLEAN, TRUE, nullptr);
  top.demand = std::make_shared<LadderDemand>(infos.size());
  {
    std::lock_guard l(lock_);
    for (auto &lc : layers)
      lc.producer->limiter.set_interval(gint64(keyframe_interval_ms_) * 1000);
  }

  for (GstElement *e : chain)
    gst_bin_add(GST_BIN(bin_), e);
  std::vector<GstElement *> added = std::exchange(chain, {});
  auto undo = [&](const char *a, const char *b) -> std::optional<Key> {
    g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "cannot link the ladder (%s ! %s)",
                a, b);
    for (GstElement *x : added) {
      gst_element_set_state(x, GST_STATE_NULL);
      gst_bin_remove(GST_BIN(bin_), x);
    }
    return std::nullopt;
  };
  if (!gst_element_link_many(upstream, convert, i420, raw_tee, nullptr))
    return undo(GST_ELEMENT_NAME(upstream), "tee");
  if (!gst_element_link(funnel, tee)) return undo("funnel", "tee");
  for (auto &lc : layers) {
    GstElement *prev = raw_tee;
    for (GstElement *e : lc.elements) {
      if (!gst_element_link(prev, e)) return undo(GST_ELEMENT_NAME(prev), GST_ELEMENT_NAME(e));
      prev = e;
    }
    GstPad *fsink = gst_element_request_pad_simple(funnel, "sink_%u");
    g_autoptr(GstPad) last_src = gst_element_get_static_pad(prev, "src");
    if (!fsink || gst_pad_link(last_src, fsink) != GST_PAD_LINK_OK) {
      if (fsink) gst_object_unref(fsink);
      return undo(GST_ELEMENT_NAME(prev), "funnel");
    }
    // The payloaders take the ssrc the caps downstream give (the signalled one, for all): each
    // layer's packets get theirs back here, so that a viewer's branch tells the layers apart.
    GstElement *pay = lc.elements[lc.elements.size() - 2];
    g_autoptr(GstPad) pay_src = gst_element_get_static_pad(pay, "src");
    gst_pad_add_probe(pay_src,
                      GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      mark_layer, GUINT_TO_POINTER(infos[&lc - layers.data()].ssrc), nullptr);
    Producer *raw_p = lc.producer.get();
    raw_p->kf_pad = fsink; // adopts the ref (the funnel keeps its own)
    gst_pad_add_probe(fsink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_keyframe_request, raw_p,
                      nullptr);
    g_autoptr(GstPad) pay_sink = gst_element_get_static_pad(pay, "sink");
    gst_pad_add_probe(pay_sink, GST_PAD_PROBE_TYPE_BUFFER, on_layer_frame, raw_p, nullptr);
    // The gate: frames reach the layer's queue (and so its scaler and encoder) only while some
    // viewer's branch holds the layer, and until the encoder made its first frame (its caps make
    // the element ready to serve peers). An encoder that starts again after a gap makes its next
    // keyframe at about its usual size (libvpx, measured: +17% on a busy picture), and a viewer's
    // switch waits for that keyframe anyway.
    struct Gate {
      std::shared_ptr<LadderDemand> demand;
      size_t layer;
      const Producer *producer;
    };
    g_autoptr(GstPad) q_sink = gst_element_get_static_pad(lc.elements[0], "sink");
    gst_pad_add_probe(
        q_sink, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer d) {
          auto *g = static_cast<Gate *>(d);
          return g->demand->holders(g->layer) > 0 || g->producer->encoded.load() == 0
                     ? GST_PAD_PROBE_OK
                     : GST_PAD_PROBE_DROP;
        },
        new Gate{top.demand, size_t(&lc - layers.data()), raw_p},
        [](gpointer d) { delete static_cast<Gate *>(d); });
  }
  {
    // Frames are counted as the ladder takes them (each layer's: on_layer_frame).
    g_autoptr(GstPad) raw_sink = gst_element_get_static_pad(raw_tee, "sink");
    gst_pad_add_probe(raw_sink, GST_PAD_PROBE_TYPE_BUFFER, on_frame, layers[0].producer.get(),
                      nullptr);
  }
  Key key = layers[0].producer->key;
  {
    std::lock_guard l(lock_);
    for (auto &lc : layers)
      producers_[lc.producer->key] = std::move(lc.producer);
  }
  for (GstElement *e : added)
    sync_to_target(e);
  GST_INFO_OBJECT(bin_, "vp8 ladder of %zu layers built (%dx%d at the top)", infos.size(), width,
                  height);
  return key;
}

GstPadProbeReturn EncoderPool::on_frame(GstPad *, GstPadProbeInfo *, gpointer data) {
  static_cast<Producer *>(data)->frames.fetch_add(1, std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn EncoderPool::on_layer_frame(GstPad *, GstPadProbeInfo *, gpointer data) {
  static_cast<Producer *>(data)->encoded.fetch_add(1, std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

static GstEvent *new_keyframe_request(bool merged) {
  GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
  if (merged)
    gst_structure_set(gst_event_writable_structure(ev), "roomcast-merged", G_TYPE_BOOLEAN, TRUE,
                      nullptr);
  return ev;
}

// Upstream force-key-unit requests (peers connecting, viewers' PLI/FIR) pass here on their way
// to the shared encoder, through the producer's limiter.
GstPadProbeReturn EncoderPool::on_keyframe_request(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *p = static_cast<Producer *>(data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (!gst_video_event_is_force_key_unit(ev)) return GST_PAD_PROBE_OK;
  const GstStructure *s = gst_event_get_structure(ev);
  if (s && gst_structure_has_field(s, "roomcast-merged")) return GST_PAD_PROBE_OK;
  // A ladder viewer's request names the layer it is on (or switching to): only that encoder.
  int layer = -1;
  if (s && gst_structure_get_int(s, "roomcast-layer", &layer) && layer != p->key.layer)
    return GST_PAD_PROBE_DROP;
  EncoderPool *pool = p->pool;
  std::lock_guard l(pool->lock_);
  gint64 now = g_get_monotonic_time();
  KeyframeLimiter::Decision d = p->limiter.request(now);
  switch (d.verdict) {
  case KeyframeLimiter::Verdict::Forward:
    return GST_PAD_PROBE_OK;
  case KeyframeLimiter::Verdict::Merge:
    return GST_PAD_PROBE_DROP;
  case KeyframeLimiter::Verdict::Defer:
    break;
  }
  if (!pool->ctx_) {
    p->limiter.deferred_sent(now); // stopping: nobody waits for it
    return GST_PAD_PROBE_DROP;
  }
  guint delay_ms = guint(std::max<gint64>(0, d.at_us - now) / 1000) + 1;
  GSource *src = g_timeout_source_new(delay_ms);
  g_source_set_callback(src, send_merged_keyframe, p, nullptr);
  g_source_attach(src, pool->ctx_);
  g_source_unref(src);
  return GST_PAD_PROBE_DROP;
}

// Worker: one request for all that were merged.
gboolean EncoderPool::send_merged_keyframe(gpointer data) {
  auto *p = static_cast<Producer *>(data);
  {
    std::lock_guard l(p->pool->lock_);
    p->limiter.deferred_sent(g_get_monotonic_time());
  }
  gst_pad_push_event(p->kf_pad, new_keyframe_request(true));
  return G_SOURCE_REMOVE;
}

} // namespace roomcast
