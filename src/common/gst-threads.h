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

} // namespace roomcast
