// Public-key pinning: the SHA-256 of a certificate's DER SubjectPublicKeyInfo, written as curl's
// --pinnedpubkey writes it ("sha256//" and the digest in base64), checked against the peer's
// chain, either on top of normal verification or as the only trust anchor.
#ifndef SECURESOCKET_ENGINE_PINNING_H
#define SECURESOCKET_ENGINE_PINNING_H

#include "ossl.h"

#include <string>
#include <vector>

namespace securesocket::engine {

// "sha256//<base64 of SHA-256(DER SubjectPublicKeyInfo)>", or "" if the key cannot be encoded.
std::string publicKeyPin(X509 *cert);

// The pins of a configuration, each "sha256//BASE64" (several may also be joined with ';', as
// curl takes them). On success fills *pins (one entry each, duplicates dropped); otherwise sets
// *error to a sentence naming the pin that is not one.
bool parsePins(const std::vector<std::string> &given, std::vector<std::string> *pins,
               std::string *error);

// The certificates among certs whose pin is one of pins.
X509StackPtr pinnedCertificates(const STACK_OF(X509) * certs, const std::vector<std::string> &pins);

// "sha256//A (CN=leaf), sha256//B (CN=CA)": the pins of certs, for messages.
std::string describePins(const STACK_OF(X509) * certs);

} // namespace securesocket::engine

#endif
