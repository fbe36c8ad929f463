#include "pkifixture.h"

#include <stdexcept>

namespace enginetest {

std::string PkiDir::path(const std::string &name) const
{
    return m_dir.filePath(QString::fromStdString(name)).toStdString();
}

std::string PkiDir::write(const std::string &name, const std::string &content) const
{
    if (!m_dir.isValid())
        throw std::runtime_error("cannot create a temporary directory");
    const std::string file = path(name);
    testpki::writeFile(file, content);
    return file;
}

void StandardPki::create(const PkiDir &dir)
{
    testpki::CertSpec ca;
    ca.commonName = "Test Root CA";
    ca.isCa = true;
    root = testpki::makeCertificate(ca);

    ca.commonName = "Test Intermediate CA";
    intermediate = testpki::makeCertificate(ca, &root);

    testpki::CertSpec leaf;
    leaf.commonName = "localhost";
    leaf.dnsNames = {"localhost"};
    leaf.ipAddresses = {"127.0.0.1", "::1"};
    server = testpki::makeCertificate(leaf, &intermediate);

    leaf = {};
    leaf.commonName = "client";
    leaf.extendedKeyUsage = {"clientAuth"};
    client = testpki::makeCertificate(leaf, &intermediate);

    ca.commonName = "Other Root CA";
    otherRoot = testpki::makeCertificate(ca);
    leaf.commonName = "other client";
    otherClient = testpki::makeCertificate(leaf, &otherRoot);

    rootFile = dir.write("root.pem", root.certPem);
    serverChainFile = dir.write("server-chain.pem", server.certPem + intermediate.certPem);
    serverKeyFile = dir.write("server.key", server.keyPem);
    clientChainFile = dir.write("client-chain.pem", client.certPem + intermediate.certPem);
    clientKeyFile = dir.write("client.key", client.keyPem);
    otherClientCertFile = dir.write("other-client.pem", otherClient.certPem);
    otherClientKeyFile = dir.write("other-client.key", otherClient.keyPem);
}

Config StandardPki::serverConfig() const
{
    Config config;
    config.useSystemCas = false;
    config.certChainFile = serverChainFile;
    config.keyFile = serverKeyFile;
    config.verifyMode = VerifyMode::None;
    return config;
}

Config StandardPki::mutualServerConfig(VerifyMode mode) const
{
    Config config = serverConfig();
    config.caFile = rootFile;
    config.verifyMode = mode;
    return config;
}

Config StandardPki::clientConfig() const
{
    Config config;
    config.useSystemCas = false;
    config.caFile = rootFile;
    config.verifyMode = VerifyMode::Verify;
    return config;
}

Config StandardPki::clientWithCertificate(bool fromOtherRoot) const
{
    Config config = clientConfig();
    config.certChainFile = fromOtherRoot ? otherClientCertFile : clientChainFile;
    config.keyFile = fromOtherRoot ? otherClientKeyFile : clientKeyFile;
    return config;
}

Config withVersion(Config config, int version)
{
    config.minVersion = version;
    config.maxVersion = version;
    return config;
}

} // namespace enginetest
