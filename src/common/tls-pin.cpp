#include "tls-pin.h"

namespace roomcast::tls {

std::string sha256_fingerprint(const guint8 *der, gsize len) {
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(sum, der, static_cast<gssize>(len));
  guint8 digest[32];
  gsize n = sizeof digest;
  g_checksum_get_digest(sum, digest, &n);
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(n * 3);
  for (gsize i = 0; i < n; i++) {
    if (i) out += ':';
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::optional<std::string> normalize_pin(std::string_view pin) {
  for (std::string_view prefix : {"sha256:", "sha256/", "SHA256:", "SHA256/", "SHA-256:"})
    if (pin.substr(0, prefix.size()) == prefix) {
      pin.remove_prefix(prefix.size());
      break;
    }
  std::string digits;
  for (char c : pin) {
    if (c == ':' || c == ' ') continue;
    if (!g_ascii_isxdigit(c)) return std::nullopt;
    digits += g_ascii_toupper(c);
  }
  if (digits.size() != 64) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    if (i) out += ':';
    out += digits.substr(i, 2);
  }
  return out;
}

} // namespace roomcast::tls
