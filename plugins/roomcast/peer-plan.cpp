#include "peer-plan.h"

namespace roomcast {

std::optional<PeerPlan> plan_peer(GstRoomcastRole self, GstRoomcastRole peer, bool existing) {
  switch (self) {
  case GST_ROOMCAST_ROLE_HOST:
    // A host sends to every viewer; it offers.
    if (peer == GST_ROOMCAST_ROLE_VIEWER) return PeerPlan{true, true, false};
    // A player (WHEP) offers itself: plan_for_offer.
    return std::nullopt;
  case GST_ROOMCAST_ROLE_MEMBER:
    // Each pair of members shares one two-way connection, offered by the newcomer: we offer to
    // the members already there and answer those who come after us, so offers never collide.
    if (peer == GST_ROOMCAST_ROLE_MEMBER) return PeerPlan{existing, true, true};
    return std::nullopt;
  case GST_ROOMCAST_ROLE_VIEWER:
    // A viewer waits for its host's offer (plan_for_offer).
    return std::nullopt;
  case GST_ROOMCAST_ROLE_PLAYER:
    // Only the server's WHEP sessions join as players; an element never does.
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<PeerPlan> plan_for_offer(GstRoomcastRole self, GstRoomcastRole peer) {
  if (self == GST_ROOMCAST_ROLE_VIEWER && peer == GST_ROOMCAST_ROLE_HOST)
    return PeerPlan{false, false, true};
  // A host answers a player's offer with its streams (send only).
  if (self == GST_ROOMCAST_ROLE_HOST && peer == GST_ROOMCAST_ROLE_PLAYER)
    return PeerPlan{false, true, false};
  return std::nullopt;
}

} // namespace roomcast
