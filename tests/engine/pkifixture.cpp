#include "pkifixture.h"

namespace enginetest {

std::string PkiDir::path(const std::string &name) const
{
    return m_dir.filePath(QString::fromStdString(name)).toStdString();
}

std::string PkiDir::write(const std::string &name, const std::string &content) const
{
    return m_dir.write(QString::fromStdString(name), content).toStdString();
}

void StandardPki::create(const PkiDir &dir)
{
    root = testpki::makeCertificate(testpki::caSpec("Test Root CA"));
    intermediate = testpki::makeCertificate(testpki::caSpec("Test Intermediate CA"), &root);
    server = testpki::makeCertificate(
        testpki::serverSpec("localhost", {"localhost"}, {"127.0.0.1", "::1"}), &intermediate);
    client = testpki::makeCertificate(testpki::clientSpec("client"), &intermediate);
    otherRoot = testpki::makeCertificate(testpki::caSpec("Other Root CA"));
    otherClient = testpki::makeCertificate(testpki::clientSpec("other client"), &otherRoot);

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
