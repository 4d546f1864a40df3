#include "tls.h"

#include "tls-pin.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <ctime>
#include <memory>

namespace roomcast::tls {

namespace {

struct PrivkeyDeleter {
  void operator()(gnutls_x509_privkey_t k) const { gnutls_x509_privkey_deinit(k); }
};
struct CrtDeleter {
  void operator()(gnutls_x509_crt_t c) const { gnutls_x509_crt_deinit(c); }
};
using Privkey = std::unique_ptr<std::remove_pointer_t<gnutls_x509_privkey_t>, PrivkeyDeleter>;
using Crt = std::unique_ptr<std::remove_pointer_t<gnutls_x509_crt_t>, CrtDeleter>;

bool gnutls_ok(int rc, const char *what, GError **error) {
  if (rc >= 0) return true;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot make a certificate: %s: %s", what,
              gnutls_strerror(rc));
  return false;
}

std::string export_pem(gnutls_x509_crt_t crt) {
  gnutls_datum_t out{};
  if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0) return {};
  std::string s(reinterpret_cast<const char *>(out.data), out.size);
  gnutls_free(out.data);
  return s;
}

std::string export_key_pem(gnutls_x509_privkey_t key) {
  gnutls_datum_t out{};
  // PKCS#8 ("BEGIN PRIVATE KEY"), which GTlsCertificate reads for every key type.
  if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, nullptr, GNUTLS_PKCS_PLAIN,
                                        &out) < 0)
    return {};
  std::string s(reinterpret_cast<const char *>(out.data), out.size);
  gnutls_free(out.data);
  return s;
}

} // namespace

GTlsCertificate *load(const std::string &cert_file, const std::string &key_file, GError **error) {
  GTlsCertificate *cert =
      g_tls_certificate_new_from_files(cert_file.c_str(), key_file.c_str(), error);
  if (!cert) {
    g_prefix_error(error, "cannot load the TLS certificate %s with key %s: ", cert_file.c_str(),
                   key_file.c_str());
    return nullptr;
  }
  // GIO takes a key that does not belong to the certificate and every handshake fails later;
  // GnuTLS checks that they are a pair.
  gnutls_certificate_credentials_t creds = nullptr;
  int rc = gnutls_certificate_allocate_credentials(&creds);
  if (rc >= 0)
    rc = gnutls_certificate_set_x509_key_file(creds, cert_file.c_str(), key_file.c_str(),
                                              GNUTLS_X509_FMT_PEM);
  if (creds) gnutls_certificate_free_credentials(creds);
  if (rc < 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "cannot use the TLS certificate %s with key %s: %s", cert_file.c_str(),
                key_file.c_str(), gnutls_strerror(rc));
    g_object_unref(cert);
    return nullptr;
  }
  return cert;
}

GTlsCertificate *make_self_signed(const std::vector<std::string> &dns_names,
                                  const std::vector<std::string> &ip_addresses, GError **error) {
  gnutls_x509_privkey_t k = nullptr;
  gnutls_x509_crt_t c = nullptr;
  if (!gnutls_ok(gnutls_x509_privkey_init(&k), "key", error)) return nullptr;
  Privkey key(k);
  if (!gnutls_ok(gnutls_x509_crt_init(&c), "certificate", error)) return nullptr;
  Crt crt(c);
  if (!gnutls_ok(gnutls_x509_privkey_generate2(k, GNUTLS_PK_ECDSA,
                                               GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
                                               nullptr, 0),
                 "key generation", error))
    return nullptr;

  guint8 serial[16];
  for (auto &b : serial)
    b = static_cast<guint8>(g_random_int_range(0, 256));
  serial[0] &= 0x7f; // a positive number
  serial[0] |= 0x01;
  const time_t now = time(nullptr);
  static const char kName[] = "roomcast self-signed";
  if (!gnutls_ok(gnutls_x509_crt_set_version(c, 3), "version", error) ||
      !gnutls_ok(gnutls_x509_crt_set_serial(c, serial, sizeof serial), "serial", error) ||
      !gnutls_ok(gnutls_x509_crt_set_activation_time(c, now - 3600), "validity", error) ||
      // 397 days: the longest validity browsers accept for a server certificate.
      !gnutls_ok(gnutls_x509_crt_set_expiration_time(c, now + 397L * 86400), "validity", error) ||
      !gnutls_ok(
          gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, kName, sizeof kName - 1),
          "subject", error) ||
      !gnutls_ok(gnutls_x509_crt_set_key(c, k), "public key", error) ||
      !gnutls_ok(gnutls_x509_crt_set_basic_constraints(c, 0, -1), "basic constraints", error) ||
      !gnutls_ok(gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage",
                 error) ||
      !gnutls_ok(gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose",
                 error))
    return nullptr;
  for (const auto &name : dns_names)
    if (!gnutls_ok(gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, name.data(),
                                                        static_cast<unsigned>(name.size()),
                                                        GNUTLS_FSAN_APPEND),
                   "DNS name", error))
      return nullptr;
  for (const auto &ip : ip_addresses) {
    guint8 raw[16];
    unsigned len = 0;
    if (inet_pton(AF_INET, ip.c_str(), raw) == 1)
      len = 4;
    else if (inet_pton(AF_INET6, ip.c_str(), raw) == 1)
      len = 16;
    else
      continue;
    if (!gnutls_ok(gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, raw, len,
                                                        GNUTLS_FSAN_APPEND),
                   "IP address", error))
      return nullptr;
  }
  guint8 key_id[64];
  size_t key_id_len = sizeof key_id;
  if (gnutls_x509_crt_get_key_id(c, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_len) >= 0)
    gnutls_x509_crt_set_subject_key_id(c, key_id, key_id_len);
  if (!gnutls_ok(gnutls_x509_crt_sign2(c, c, k, GNUTLS_DIG_SHA256, 0), "signature", error))
    return nullptr;

  std::string pem = export_pem(c) + export_key_pem(k);
  GTlsCertificate *cert = g_tls_certificate_new_from_pem(pem.c_str(), -1, error);
  if (!cert) g_prefix_error(error, "cannot use the self-signed certificate: ");
  return cert;
}

std::string fingerprint(GTlsCertificate *cert) {
  GByteArray *der = nullptr;
  g_object_get(cert, "certificate", &der, nullptr);
  if (!der) return {};
  std::string fp = sha256_fingerprint(der->data, der->len);
  g_byte_array_unref(der);
  return fp;
}

std::vector<std::string> dns_names(GTlsCertificate *cert) {
  std::vector<std::string> out;
  GPtrArray *names = g_tls_certificate_get_dns_names(cert);
  if (!names) return out;
  for (guint i = 0; i < names->len; i++) {
    gsize len = 0;
    auto *b = static_cast<GBytes *>(g_ptr_array_index(names, i));
    const char *data = static_cast<const char *>(g_bytes_get_data(b, &len));
    std::string n(data, len);
    for (char &ch : n)
      ch = g_ascii_tolower(ch);
    out.push_back(std::move(n));
  }
  g_ptr_array_unref(names);
  return out;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  struct ifaddrs *ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = "";
    if (i->ifa_addr->sa_family == AF_INET)
      inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in *>(i->ifa_addr)->sin_addr, buf,
                sizeof buf);
    else if (i->ifa_addr->sa_family == AF_INET6) {
      auto *a6 = reinterpret_cast<struct sockaddr_in6 *>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue; // scoped: no use in a certificate
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    } else
      continue;
    if (*buf && std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
  }
  freeifaddrs(ifs);
  return out;
}

} // namespace roomcast::tls
