// GRef<T>: a small RAII holder for one strong GObject (or GstObject) reference.
#pragma once

#include <glib-object.h>

#include <utility>

namespace roomcast {

template <typename T> class GRef {
public:
  GRef() = default;
  // Adopts a reference the caller owns (transfer full).
  static GRef adopt(T *p) {
    GRef r;
    r.p_ = p;
    return r;
  }
  // Takes a new reference (transfer none); sinks a floating one.
  static GRef ref(T *p) {
    GRef r;
    r.p_ = p ? static_cast<T *>(g_object_ref_sink(p)) : nullptr;
    return r;
  }
  GRef(const GRef &o) : p_(o.p_ ? static_cast<T *>(g_object_ref(o.p_)) : nullptr) {}
  GRef(GRef &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  GRef &operator=(GRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~GRef() { reset(); }

  void reset() {
    if (T *p = std::exchange(p_, nullptr)) g_object_unref(p);
  }
  T *get() const { return p_; }
  T *operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Hands the reference out (transfer full).
  T *release() { return std::exchange(p_, nullptr); }

private:
  T *p_ = nullptr;
};

} // namespace roomcast
