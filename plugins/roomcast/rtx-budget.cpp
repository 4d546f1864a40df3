#include "rtx-budget.h"

#include <algorithm>

namespace roomcast {

void RtxBudget::sent(std::uint64_t n) {
  tokens_ = std::min(burst_, tokens_ + per_packet_ * double(n));
}

bool RtxBudget::take() {
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    granted_++;
    return true;
  }
  refused_++;
  return false;
}

bool RtxBudget::take_extra() {
  if (tokens_ - 1.0 < burst_ / 2) return false;
  tokens_ -= 1.0;
  return true;
}

} // namespace roomcast
