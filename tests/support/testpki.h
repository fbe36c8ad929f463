// Test PKI: keys, certificates and CRLs made at run time with OpenSSL, for the tests, the
// demo and the benchmarks. No private key is ever committed to the repository.
#ifndef SECURESOCKET_TESTPKI_H
#define SECURESOCKET_TESTPKI_H

#include <string>
#include <vector>

namespace testpki {

enum class KeyType { EcdsaP256, Rsa2048, Ed25519 };

struct CertSpec
{
    std::string commonName;               // subject CN (subject is "CN=<commonName>")
    std::vector<std::string> dnsNames;    // subjectAltName DNS entries
    std::vector<std::string> ipAddresses; // subjectAltName IP entries (IPv4 or IPv6 text)
    bool isCa = false;                    // basicConstraints CA:TRUE (critical) + keyCertSign
    bool omitBasicConstraints = false;    // no basicConstraints extension at all
    int pathLength = -1;                  // pathLenConstraint for a CA; -1 = none
    // Validity, in seconds relative to now (negative = in the past).
    long notBeforeOffset = -3600;
    long notAfterOffset = 30L * 24 * 3600;
    // extendedKeyUsage short names ("serverAuth", "clientAuth", "emailProtection", ...);
    // empty means: none for a CA, "serverAuth,clientAuth" for a leaf.
    std::vector<std::string> extendedKeyUsage;
    // keyUsage names ("digitalSignature", "keyCertSign", ...), made critical; empty means the
    // usual ones for the kind of certificate and key.
    std::vector<std::string> keyUsage;
    std::string aiaCaIssuersUrl; // authorityInfoAccess caIssuers URI, when not empty
    KeyType keyType = KeyType::EcdsaP256;
};

// A certificate with its private key, both PEM.
struct Issued
{
    std::string certPem;
    std::string keyPem;
};

// Makes a key and a certificate for spec, signed by issuer (self-signed when issuer is null).
// Serial numbers are random. Throws std::runtime_error on failure.
Issued makeCertificate(const CertSpec &spec, const Issued *issuer = nullptr);

// The same private key, PEM-encrypted with AES-256-CBC under passphrase (PKCS#8).
std::string encryptKey(const std::string &keyPem, const std::string &passphrase);

// A CRL signed by ca, valid now, listing the serial numbers of the given certificates.
std::string makeCrl(const Issued &ca, const std::vector<const Issued *> &revoked);

// Specs of the usual roles, to adjust before use.
// A CA: basicConstraints CA:TRUE, critical.
CertSpec caSpec(const std::string &commonName);
// A server leaf: subject CN=commonName, these subjectAltNames, the default key usages.
CertSpec serverSpec(const std::string &commonName, const std::vector<std::string> &dnsNames,
                    const std::vector<std::string> &ipAddresses = {});
// The usual test server: CN=localhost, DNS:localhost, IP:127.0.0.1.
CertSpec localhostSpec();
// A client leaf: extendedKeyUsage clientAuth only.
CertSpec clientSpec(const std::string &commonName);

// Writes content to path (creating or truncating it). Throws on failure.
void writeFile(const std::string &path, const std::string &content);

} // namespace testpki

#endif
