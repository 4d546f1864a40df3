// Certificate fingerprints for pinning: the SHA-256 of a certificate's DER bytes, written as
// uppercase hex pairs joined by colons ("AB:12:…", as `openssl x509 -fingerprint -sha256` prints
// it). Server (prints its own) and clients (compare a peer's with a pin) share these. GLib only.
#pragma once

#include <glib.h>

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::tls {

// "AB:12:…" (95 characters) for the DER bytes of a certificate.
std::string sha256_fingerprint(const guint8 *der, gsize len);

// A pin as users may write it (colons or not, spaces, any case, an optional "sha256:" or
// "sha256/" prefix) in the form sha256_fingerprint() returns; nullopt when it is not 32 bytes of
// hex.
std::optional<std::string> normalize_pin(std::string_view pin);

} // namespace roomcast::tls
