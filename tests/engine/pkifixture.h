// The PKI most engine tests share, made at run time into a temporary directory (no private key
// is ever committed): a root CA, an intermediate CA below it, a server leaf and a client leaf
// issued by the intermediate, and a second, untrusted root with a client leaf of its own.
#ifndef SECURESOCKET_TESTS_PKIFIXTURE_H
#define SECURESOCKET_TESTS_PKIFIXTURE_H

#include "context.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <string>

namespace enginetest {

using securesocket::engine::Config;
using securesocket::engine::VerifyMode;

// A temporary directory for PEM files, removed with the object: testpki::PkiDirectory with the
// std::string paths the engine's Config takes.
class PkiDir
{
public:
    bool isValid() const { return m_dir.isValid(); }
    std::string path(const std::string &name) const;
    // Writes content to name in the directory and returns the full path.
    std::string write(const std::string &name, const std::string &content) const;

private:
    testpki::PkiDirectory m_dir;
};

struct StandardPki
{
    testpki::Issued root;         // trusted by both sides
    testpki::Issued intermediate; // issued by root; issues server and client
    testpki::Issued server;       // localhost, 127.0.0.1, ::1
    testpki::Issued client;       // CN=client
    testpki::Issued otherRoot;    // trusted by nobody
    testpki::Issued otherClient;  // issued by otherRoot

    std::string rootFile;
    std::string serverChainFile; // server leaf + intermediate
    std::string serverKeyFile;
    std::string clientChainFile; // client leaf + intermediate
    std::string clientKeyFile;
    std::string otherClientCertFile;
    std::string otherClientKeyFile;

    // Makes every certificate and writes the files into dir. Throws std::runtime_error.
    void create(const PkiDir &dir);

    // A server with its chain and key that asks for no client certificate.
    Config serverConfig() const;
    // A server that asks for a client certificate from the root's hierarchy.
    Config mutualServerConfig(VerifyMode mode) const;
    // A client that trusts the root only (no system CAs), without a certificate of its own.
    Config clientConfig() const;
    // clientConfig() plus the client certificate (or the one from the untrusted root).
    Config clientWithCertificate(bool fromOtherRoot = false) const;
};

// config limited to exactly one TLS version (TLS1_2_VERSION or TLS1_3_VERSION).
Config withVersion(Config config, int version);

} // namespace enginetest

#endif
