// The signaller interface's enums and the protocol library's, each way (one place for both
// signallers).
#pragma once

#include "gstroomcastsignaller.h"
#include "protocol.h"

namespace roomcast {

inline GstRoomcastRole to_gst(proto::Role r) {
  switch (r) {
  case proto::Role::Host:
    return GST_ROOMCAST_ROLE_HOST;
  case proto::Role::Member:
    return GST_ROOMCAST_ROLE_MEMBER;
  default:
    return GST_ROOMCAST_ROLE_VIEWER;
  }
}

inline proto::Role to_proto(GstRoomcastRole r) {
  switch (r) {
  case GST_ROOMCAST_ROLE_HOST:
    return proto::Role::Host;
  case GST_ROOMCAST_ROLE_MEMBER:
    return proto::Role::Member;
  default:
    return proto::Role::Viewer;
  }
}

inline GstRoomcastRoomKind to_gst(proto::RoomKind k) {
  return k == proto::RoomKind::Meeting ? GST_ROOMCAST_ROOM_KIND_MEETING
                                       : GST_ROOMCAST_ROOM_KIND_LIVE;
}

} // namespace roomcast
