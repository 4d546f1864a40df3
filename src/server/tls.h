// The server's TLS certificate: loaded from PEM files, or made at start (self-signed, for a LAN).
#pragma once

#include <gio/gio.h>

#include <string>
#include <vector>

namespace roomcast::tls {

// A certificate (PEM, with its chain) and its private key (PEM). Names the file in the error.
GTlsCertificate *load(const std::string &cert_file, const std::string &key_file, GError **error);

// A self-signed certificate with a new ECDSA P-256 key, valid from an hour ago for 397 days, for
// these DNS names and IP addresses (subjectAltName), signed with SHA-256 (GnuTLS).
GTlsCertificate *make_self_signed(const std::vector<std::string> &dns_names,
                                  const std::vector<std::string> &ip_addresses, GError **error);

// The certificate's SHA-256 fingerprint ("AB:12:…"; see tls-pin.h).
std::string fingerprint(GTlsCertificate *cert);

// The certificate's DNS names (subjectAltName), lowercase.
std::vector<std::string> dns_names(GTlsCertificate *cert);

// The addresses of this machine's interfaces (for a self-signed certificate when listening on
// every interface).
std::vector<std::string> local_addresses();

} // namespace roomcast::tls
