// Which peers an element serves, and who offers: a pure policy (table-tested).
#pragma once

#include "gstroomcastsignaller.h"

#include <optional>

namespace roomcast {

struct PeerPlan {
  bool offerer; // we create the offer (host to viewer; meeting newcomer to existing members)
  bool send;    // we send our streams
  bool receive; // we receive the peer's streams
  bool operator==(const PeerPlan &) const = default;
};

// `self` is our role, `peer` the role of a peer the room told us about; `existing` is TRUE when
// it was in the room before us. nullopt: not ours to serve (e.g. a viewer seeing another viewer,
// or a viewer that waits for its host's offer).
std::optional<PeerPlan> plan_peer(GstRoomcastRole self, GstRoomcastRole peer, bool existing);

// The plan for a peer whose offer arrives without a plan (a viewer's host): nullopt if we
// accept no offer from that role.
std::optional<PeerPlan> plan_for_offer(GstRoomcastRole self, GstRoomcastRole peer);

} // namespace roomcast
