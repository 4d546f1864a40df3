// EncoderPool: the streams roomcastsink sends, each produced once and shared by every peer.
//
// A producer is `[convert ! encoder !] payloader ! tee`, keyed by (media, codec, layer), built
// from one row of the codec table. Peers are fed from a producer's tee (SendSource) and never
// see how it was made, so more producers (another codec for a peer that cannot decode ours, a
// ladder of sizes) come without touching peers. Today: one producer per input stream.
//
// Threads: `build` runs on the element's worker (it adds elements to the bin). Keyframe requests
// arrive on streaming threads and go through the producer's KeyframeLimiter; a merged request
// is sent from a timer on the worker context.
// Lock order: the element's lock, then `EncoderPool::lock_`. Not held while calling into pads or
// elements, or while running hooks.
#pragma once

#include "common.h"
#include "keyframe-limiter.h"
#include "peer.h"

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace roomcast {

enum class Media { Video, Audio };

struct EncoderParams {
  guint kbps = 2000;
  int width = 0, height = 0; // of the raw input, when known
  // The ladder: each layer's size as a share of the input's (descending, first 1.0); one entry or
  // none: a single stream. Only raw VP8 input is encoded as a ladder (see "Per-viewer ladder").
  std::vector<double> ladder;
  // Congestion feedback offered for a ladder's video (see "Per-viewer ladder"): transport-wide
  // congestion control (the header extension on every packet, `transport-cc` feedback) and REMB
  // (`goog-remb` feedback). A browser offered both sends transport-cc only.
  bool twcc = true, remb = true;
};

// The transport-wide congestion control header extension: its URI and the id we offer it at.
inline constexpr const char *kTwccUri =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
inline constexpr guint kTwccExtId = 3;

// A layer's bitrate as a share of the set bitrate, from its scale (full size: 1; half: ~0.35;
// quarter: ~0.125).
double ladder_share(double scale);
// Parses a ladder option: "off" (or "1"): none; "1,0.5,0.25": those scales. Scales must be
// descending, in (0, 1], the first 1, at most 4. False with `error` set otherwise.
bool parse_ladder(const char *text, std::vector<double> &out, std::string &error);
// Parses the congestion-feedback option: "twcc,remb" (either order), "twcc", "remb" or "none".
bool parse_congestion_feedback(const char *text, bool &twcc, bool &remb);

// One row of the codec table: how to make, configure and payload one codec.
struct CodecSpec {
  Media media;
  Codec codec;               // video codecs only (audio: Opus)
  const char *nick;          // "vp8", "opus": what hooks and messages name
  const char *encoding_name; // RTP encoding-name
  const char *encoded_caps;  // caps name of already-encoded input of this codec
  const char *encoder;       // encoder factory
  const char *encoder_caps;  // caps forced on the encoder's output (nullptr: none)
  const char *payloader;     // payloader factory
  int payload_type;          // what we offer (answers match by codec; see docs/protocol.md)
  void (*configure)(GstElement *encoder, const EncoderParams &params);
  void (*set_bitrate)(GstElement *encoder, guint kbps);
};

// The row for a video codec, for Opus, or for an encoded input's caps name (nullptr: none).
const CodecSpec &codec_spec(Codec codec);
const CodecSpec &opus_spec();
const CodecSpec *codec_spec_for_caps(const char *caps_name);

// What a peer is offered for a stream (codec preferences). `profile_level_id` for H.264.
GstCaps *offer_caps(const CodecSpec &spec, const char *profile_level_id);
// The H.264 profile-level-id (6 hex digits) we advertise for an input's caps: its profile
// (none: constrained baseline, as our encoder makes it) at a level that covers its size and rate.
std::string h264_profile_level_id(const GstCaps *input);
// The lowest H.264 level_idc (at least 31) for a picture size and frame rate.
int h264_level_for(int width, int height, double fps);

class EncoderPool {
public:
  struct Key {
    Media media;
    Codec codec;
    int layer = 0;
    auto operator<=>(const Key &) const = default;
  };
  // Element hooks (called on the worker, without locks, unless marked).
  struct Hooks {
    // What raw input is encoded with, read when an input's caps come.
    std::function<void(Codec &codec, EncoderParams &params)> input_settings;
    // Streaming thread: every input's producer has seen caps (peers can be served).
    std::function<void()> inputs_ready;
    // A producer could not be built (the element posts the error).
    std::function<void(const GError *err)> build_failed;
    // May return an encoder of the user's choice for a spec (nullptr: ours).
    std::function<GstElement *(const CodecSpec &)> create_encoder;
    // Called with every encoder after we configured it, before it starts.
    std::function<void(const CodecSpec &, GstElement *)> encoder_setup;
  };
  struct Counters {
    guint64 frames = 0; // a ladder: frames taken from the input (each layer: layer_frames)
    // A ladder's layers, top first: frames each layer's encoder made, and the viewers' branches
    // that hold it (its encoder runs only while that is above zero).
    std::vector<guint64> layer_frames;
    std::vector<int> layer_holders;
    guint64 keyframes_forwarded = 0;
    guint64 keyframes_merged = 0;
  };

  EncoderPool(GstElement *bin, Hooks hooks);
  ~EncoderPool();

  // The worker context, where merged keyframe requests are sent from (nullptr: stopped).
  void set_context(GMainContext *ctx);
  void set_keyframe_interval(guint ms);

  // Inputs: one per media, each a `queue` in the bin whose sink pad the element ghosts. When
  // the first caps reach an input, its producer is built on the worker context while that
  // streaming thread waits, then the caps go on to it.
  // The queue's sink pad (borrowed: owned by the queue), or nullptr with `err` set.
  GstPad *add_input(Media media, GError **err);
  bool has_input(Media media) const;
  // Removes an input whose producer was not built yet (false otherwise: it stays).
  bool remove_input(GstPad *sink_pad);
  // Every input's producer has seen caps (and there is at least one input).
  bool inputs_ready() const;
  // What a peer is fed from: one source per input, in the order inputs were added.
  std::vector<SendSource> sources() const;

  // Worker: builds the producer for a stream whose input (`upstream`, an element of the bin
  // with a free src pad) now has `caps`; raw input is encoded with `codec`. Returns its key,
  // or nullopt with `err` set.
  std::optional<Key> build(Media media, GstElement *upstream, const GstCaps *caps, Codec codec,
                           const EncoderParams &params, GError **err);
  // What a peer is fed from for a stream (borrowed: valid while the pool lives), if built.
  std::optional<SendSource> source(const Key &key) const;
  // The ladder's layers of the video stream (empty: a single stream).
  std::vector<LadderLayer> ladder() const;
  // Changes every video encoder's bitrate (live).
  void set_bitrate(guint kbps);
  Counters counters() const;

private:
  struct Producer;
  struct Input {
    Media media;
    GstElement *queue = nullptr; // owned by the bin
    GstPad *queue_src = nullptr; // owned by the queue
    std::optional<Key> key;      // (lock) once built
    GstPad *tee_sink = nullptr;  // (lock) the producer's tee's sink pad (owned by it)
    bool ready = false;          // (lock) caps reached the tee
  };
  static GstPadProbeReturn on_input_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data);
  static GstPadProbeReturn on_tee_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data);
  void build_input(GstPad *queue_src, const GstCaps *caps, bool &built);
  static GstPadProbeReturn on_keyframe_request(GstPad *, GstPadProbeInfo *info, gpointer data);
  std::optional<Key> build_ladder(GstElement *upstream, const GstCaps *caps, const CodecSpec &spec,
                                  const EncoderParams &params, GError **err);
  static GstPadProbeReturn on_frame(GstPad *, GstPadProbeInfo *, gpointer data);
  static GstPadProbeReturn on_layer_frame(GstPad *, GstPadProbeInfo *, gpointer data);
  static gboolean send_merged_keyframe(gpointer data);
  GstElement *make_encoder(const CodecSpec &spec, const EncoderParams &params, GError **err);

  GstElement *bin_; // the element (no ref: the pool lives inside it)
  Hooks hooks_;
  mutable std::mutex lock_; // after the element's lock
  std::map<Key, std::unique_ptr<Producer>> producers_;
  std::vector<std::unique_ptr<Input>> inputs_;
  GMainContext *ctx_ = nullptr; // (lock) ref
  guint keyframe_interval_ms_ = 500;
};

} // namespace roomcast
