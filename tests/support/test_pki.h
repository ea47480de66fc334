// Test support: certificates for TLS tests (an SMTP sink, an MQTT broker, a gRPC server with
// mutual TLS), made with the openssl CLI (/usr/bin/openssl, Debian's openssl package), so tests
// use the same tool an operator would.
//
//   absl::StatusOr<TestCertificates> pki = MakeTestCertificates(dir);
//   server: --tls_cert=pki->cert_file --tls_key=pki->key_file
//   client: verifies with pki->ca_file; for mutual TLS presents pki->client_cert_file/key_file
#ifndef SMARTBY_TESTS_SUPPORT_TEST_PKI_H_
#define SMARTBY_TESTS_SUPPORT_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace smartby::testing {

// Files in `dir` (which must exist), EC P-256 keys, certificates valid for two days:
struct TestCertificates {
  std::string ca_file;  // the CA that signed every certificate below
  // A server certificate for 127.0.0.1 and localhost (subjectAltName), and its key.
  std::string cert_file;
  std::string key_file;
  // A client certificate (CN=client), for mutual TLS.
  std::string client_cert_file;
  std::string client_key_file;
  // A certificate for another host only (mail.example.org): a client must refuse it on 127.0.0.1.
  std::string wrong_host_cert_file;
  std::string wrong_host_key_file;
  std::string other_ca_file;  // a second CA that signed nothing here
};

// Makes them; on failure the error holds openssl's output.
absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir);

}  // namespace smartby::testing

#endif  // SMARTBY_TESTS_SUPPORT_TEST_PKI_H_
