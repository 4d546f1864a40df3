// Moving GStreamer work to the thread that owns it (header only: the plugin and the app both use
// it, and each brings its own GStreamer dependency).
//
// Rule (docs/architecture.md, Threads): webrtcbin signals and pad-added arrive on streaming or
// webrtcbin threads; the pipeline's topology (adding elements, linking new pads) is changed only
// on the thread that owns it: an element's worker context, or the app's main loop.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <utility>

namespace roomcast {

// Runs `fn` on `ctx` (taking ownership of the callable; dropped unrun if ctx never runs it).
template <typename F> void invoke_on(GMainContext *ctx, F &&fn) {
  using Fn = std::decay_t<F>;
  auto *call = new Fn(std::forward<F>(fn));
  g_main_context_invoke_full(
      ctx, G_PRIORITY_DEFAULT,
      [](gpointer d) -> gboolean {
        (*static_cast<Fn *>(d))();
        return G_SOURCE_REMOVE;
      },
      call, [](gpointer d) { delete static_cast<Fn *>(d); });
}

// For a pad-added handler: the new src pad is blocked where it is (its data waits; nothing is
// dropped or refused as not-linked), `link(pad)` runs on `ctx` to give it somewhere to go, and
// then the block is lifted. If ctx never runs it (shutting down), the pad stays blocked until
// its element leaves PLAYING, which flushes the block.
template <typename F> void link_on(GMainContext *ctx, GstPad *pad, F &&link) {
  gulong probe = gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM,
      [](GstPad *, GstPadProbeInfo *, gpointer) { return GST_PAD_PROBE_OK; }, nullptr, nullptr);
  std::shared_ptr<GstPad> held(GST_PAD(gst_object_ref(pad)),
                               [](GstPad *p) { gst_object_unref(p); });
  invoke_on(ctx, [held, probe, link = std::forward<F>(link)]() mutable {
    link(held.get());
    gst_pad_remove_probe(held.get(), probe);
  });
}

// Brings an element just added to a running bin to the state the bin is headed for (its
// target), where gst_element_sync_state_with_parent() takes the state the bin is in. That one is
// PAUSED while the bin has "lost" its state to an async child (a decodebin plugging, a sink
// prerolling), and the bin's own way back to PLAYING sets its children's states on another thread:
// an element that reads PAUSED before that pass and applies it after stays PAUSED for good (a
// sink then holds its first buffer, its queue fills, and the pictures stop). A bin with no target
// yet (being built) gives its current state.
inline GstStateChangeReturn sync_to_target(GstElement *element) {
  GstObject *parent = gst_object_get_parent(GST_OBJECT(element));
  if (!parent) return GST_STATE_CHANGE_FAILURE;
  GST_OBJECT_LOCK(parent);
  GstState target = GST_STATE_TARGET(parent);
  if (target == GST_STATE_VOID_PENDING) target = GST_STATE(parent);
  GST_OBJECT_UNLOCK(parent);
  gst_object_unref(parent);
  return gst_element_set_state(element, target);
}

} // namespace roomcast
