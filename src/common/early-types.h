// GObject classes that roomcast's threads create, made ready once on the first thread, before
// any of those threads starts.
//
// GLib 2.74 (Debian 12) can deadlock when two threads bring up types at the same time: a thread
// in a class initialiser (holding GObject's class-initialisation lock) that needs a type another
// thread is registering lazily, while that thread needs the same lock to add the type's
// interfaces. Seen here about 1 start in 150: the signaller thread making its SoupSession (whose
// class uses GInetSocketAddress) while the main thread made the first GInetSocketAddress for the
// host's metrics endpoint; the process hung before printing anything. Types that already exist
// take no lock, so registering them all up front removes the race.
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <initializer_list>

namespace roomcast {

inline void ensure_early_types() {
  // Classes kept referenced for the life of the process (they never go away anyway).
  for (GType t :
       {SOUP_TYPE_SESSION, SOUP_TYPE_MESSAGE, SOUP_TYPE_WEBSOCKET_CONNECTION, SOUP_TYPE_SERVER,
        SOUP_TYPE_SERVER_MESSAGE, G_TYPE_INET_SOCKET_ADDRESS, G_TYPE_INET_ADDRESS,
        G_TYPE_NETWORK_ADDRESS, G_TYPE_PROXY_ADDRESS, G_TYPE_SOCKET, G_TYPE_SOCKET_CLIENT,
        G_TYPE_SOCKET_SERVICE, G_TYPE_TCP_CONNECTION, G_TYPE_CANCELLABLE})
    g_type_class_ref(t);
  for (GType t : {G_TYPE_SOCKET_CONNECTABLE, G_TYPE_TLS_CLIENT_CONNECTION,
                  G_TYPE_TLS_SERVER_CONNECTION, G_TYPE_PROXY_RESOLVER})
    g_type_ensure(t);
}

} // namespace roomcast
