// SNI: several certificates on one listener. A SecureServer in this process and the echoserver
// each hold a default certificate (localhost) and more chains: alpha.test, *.beta.test (its key
// encrypted, the passphrase in a file) and gamma.test twice, ECDSA and RSA. openssl s_client,
// gnutls-cli, Python's ssl module and our own SecureSocket ask for different names (none, an
// unknown one, exact, wildcard, other case) and each must get the right certificate, checked by
// its SHA-256 fingerprint on both ends; a client that can only take RSA gets the RSA chain.
// Refusing unknown names gives the client an unrecognized_name alert and the server a reason
// naming the name. Bad extra chains fail validate() and listen() naming their file.
#include <SecureSocket/secureserver.h>

#include "pkidirectory.h"
#include "recheckclock.h"
#include "serverhelpers.h"

#include <QFile>
#include <QPointer>
#include <QTest>

#include <memory>

using servertest::waitUntil;

namespace {

constexpr int kClientMsecs = 15000;

QByteArray fingerprintOfFile(const QString &pemFile)
{
    const QList<SecureCertificate> certs = SecureCertificate::fromPemFile(pemFile);
    return certs.isEmpty() ? QByteArray() : certs.first().sha256Fingerprint().toHex();
}

// The first certificate of a text, as the hex SHA-256 of its DER.
QByteArray fingerprintOfFirstPem(const QByteArray &text)
{
    const int begin = text.indexOf("-----BEGIN CERTIFICATE-----");
    const QByteArray endLine = "-----END CERTIFICATE-----";
    const int end = text.indexOf(endLine, begin);
    if (begin < 0 || end < 0)
        return {};
    const SecureCertificate cert(text.mid(begin, end + endLine.size() - begin) + '\n');
    return cert.isNull() ? QByteArray() : cert.sha256Fingerprint().toHex();
}

// A Python client: connects, prints the hex SHA-256 of the server's certificate, or the error.
constexpr char kPythonClient[] = R"PY(
import hashlib, socket, ssl, sys
port, name, ca, rsa_only = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "rsa"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if rsa_only:
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        # An IP address as the name: Python sends no SNI and checks the IP SAN.
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            print("sha256=" + hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
except Exception as e:
    print("error=" + str(e))
)PY";

} // namespace

class TestSni : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void opensslGetsCertificateByName_data();
    void opensslGetsCertificateByName();
    void gnutlsGetsCertificateByName_data();
    void gnutlsGetsCertificateByName();
    void pythonGetsCertificateByName_data();
    void pythonGetsCertificateByName();
    void rsaOnlyClientGetsRsaChain_data();
    void rsaOnlyClientGetsRsaChain();
    void secureSocketVerifiesTheChosenCertificate_data();
    void secureSocketVerifiesTheChosenCertificate();
    void firstChainIsDefaultWithoutMainCertificate();
    void defaultHasItsRsaTwin();
    void unknownNameIsRefused_data();
    void unknownNameIsRefused();
    void badExtraChainIsRefused_data();
    void badExtraChainIsRefused();
    void warningsCoverEveryChain();
    void replacedChainFileIsServed();
    void reloadReadsEveryChain();
    void configurationComparesChains();
    void echoserverServesByName();
    void echoserverIniRefusesUnknownNames();
    void echoserverRefusesBadPair();

private:
    SecureConfiguration serverConfiguration(bool refuse = false) const;
    bool startServer(const SecureConfiguration &config);
    // The fingerprint a client got, from openssl s_client; or, with refused, its output.
    QByteArray opensslClient(quint16 port, const QString &name, const QStringList &extra = {},
                             QByteArray *output = nullptr);
    QByteArray gnutlsClient(quint16 port, const QString &name, QByteArray *output = nullptr);
    QByteArray pythonClient(quint16 port, const QString &name, bool rsaOnly = false);
    QByteArray fingerprint(const QString &which) const { return m_fingerprints.value(which); }

    testpki::PkiDirectory m_pkiDir; // a temporary directory of its own
    testpki::Issued m_ca;
    QString m_caFile, m_python;
    QHash<QString, QString> m_certs, m_keys;
    QHash<QString, QByteArray> m_fingerprints;
    QString m_passphraseFile;
    std::unique_ptr<SecureServer> m_server;
    QList<QPointer<SecureSocket>> m_accepted;
    QList<QByteArray> m_served;   // fingerprints of localCertificate() of each connection
    QStringList m_requestedNames; // requestedServerName() of each connection
    QStringList m_failures;       // handshakeFailed() reasons
};

void TestSni::initTestCase()
{
    QVERIFY(m_pkiDir.isValid());
    using testpki::KeyType;
    m_ca = testpki::makeCertificate(testpki::caSpec("SNI Test CA"));
    m_caFile = m_pkiDir.write(QStringLiteral("ca.pem"), m_ca.certPem);
    struct Spec
    {
        const char *name;
        testpki::CertSpec spec;
    };
    auto spec = [](const char *cn, std::vector<std::string> names, KeyType type) {
        testpki::CertSpec s = testpki::serverSpec(cn, std::move(names));
        s.keyType = type;
        return s;
    };
    const Spec specs[] = {
        {"default", testpki::localhostSpec()},
        {"alpha", spec("alpha.test", {"alpha.test"}, KeyType::EcdsaP256)},
        {"beta", spec("beta wildcard", {"*.beta.test"}, KeyType::EcdsaP256)},
        {"gamma-ec", spec("gamma.test ECDSA", {"gamma.test"}, KeyType::EcdsaP256)},
        {"gamma-rsa", spec("gamma.test RSA", {"gamma.test"}, KeyType::Rsa2048)},
        {"other", spec("other.test", {"other.test"}, KeyType::EcdsaP256)},
    };
    for (const Spec &s : specs) {
        const QString name = QString::fromLatin1(s.name);
        testpki::Issued issued;
        m_certs[name] = m_pkiDir.issue(name, s.spec, &m_ca, &issued);
        m_keys[name] = testpki::PkiDirectory::keyFileOf(m_certs[name]);
        m_fingerprints[name] = fingerprintOfFile(m_certs[name]);
        QVERIFY(!m_fingerprints[name].isEmpty());
        if (name == QLatin1String("beta")) {
            m_keys[name] = m_pkiDir.write(QStringLiteral("beta-encrypted.key"),
                                          testpki::encryptKey(issued.keyPem, "beta secret"));
        }
    }
    m_passphraseFile = m_pkiDir.write(QStringLiteral("beta.pass"), "beta secret\n");
    m_pkiDir.write(QStringLiteral("wrong.pass"), "not the secret\n");
    m_python = m_pkiDir.write(QStringLiteral("sniclient.py"), kPythonClient);
}

void TestSni::cleanup()
{
    for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted)) {
        // QAbstractSocket's destructor still signals (it closes a connected socket): the
        // lambda calling disconnectFromHost() must not run on a half-destroyed SecureSocket.
        if (socket)
            socket->disconnect(socket);
        delete socket;
    }
    m_accepted.clear();
    if (m_server) {
        m_server->close();
        QTRY_COMPARE_WITH_TIMEOUT(m_server->pendingHandshakeCount(), 0, 5000);
        m_server.reset();
    }
    m_served.clear();
    m_requestedNames.clear();
    m_failures.clear();
}

// Default localhost; alpha.test; *.beta.test (encrypted key, passphrase file); gamma.test
// ECDSA then RSA.
SecureConfiguration TestSni::serverConfiguration(bool refuse) const
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_certs["default"]);
    config.setPrivateKeyFile(m_keys["default"]);
    config.addLocalCertificateChain(m_certs["alpha"], m_keys["alpha"]);
    SecureConfiguration::LocalCertificateChain beta;
    beta.chainFile = m_certs["beta"];
    beta.keyFile = m_keys["beta"];
    beta.passphraseFile = m_passphraseFile;
    config.addLocalCertificateChain(beta);
    config.addLocalCertificateChain(m_certs["gamma-ec"], m_keys["gamma-ec"]);
    config.addLocalCertificateChain(m_certs["gamma-rsa"], m_keys["gamma-rsa"]);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    config.setRefuseUnknownServerName(refuse);
    return config;
}

bool TestSni::startServer(const SecureConfiguration &config)
{
    m_server = std::make_unique<SecureServer>();
    m_server->setConfiguration(config);
    SecureServer *server = m_server.get();
    connect(server, &SecureServer::newConnection, this, [this, server] {
        while (SecureSocket *socket = server->nextPendingSecureConnection()) {
            m_served.append(socket->localCertificate().sha256Fingerprint().toHex());
            m_requestedNames.append(socket->requestedServerName());
            m_accepted.append(socket);
            // Closed when the client closes (s_client and gnutls-cli at the end of their
            // input wait for that), not before: our own client checks the session first.
            connect(socket, &SecureSocket::readChannelFinished, socket,
                    [socket] { socket->disconnectFromHost(); });
        }
    });
    connect(server, &SecureServer::handshakeFailed, this,
            [this](SecureSocket *, const QString &reason) { m_failures.append(reason); });
    if (!server->listen(QHostAddress::LocalHost, 0)) {
        qWarning("listen failed: %s", qPrintable(server->errorString()));
        return false;
    }
    return true;
}

QByteArray TestSni::opensslClient(quint16 port, const QString &name, const QStringList &extra,
                                  QByteArray *output)
{
    PeerProcess client;
    client.setStandardInputFile(QStringLiteral("/dev/null"));
    client.setMergedChannels(true);
    QStringList args{"s_client", "-connect", QStringLiteral("127.0.0.1:%1").arg(port)};
    args << (name.isEmpty() ? QStringList{"-noservername"} : QStringList{"-servername", name});
    args << extra;
    if (!client.start(QStringLiteral("openssl"), args) || !client.waitForExit(kClientMsecs)) {
        qWarning("%s", qPrintable(client.describe()));
        return {};
    }
    if (output)
        *output = client.standardOutput();
    return fingerprintOfFirstPem(client.standardOutput());
}

QByteArray TestSni::gnutlsClient(quint16 port, const QString &name, QByteArray *output)
{
    // The host argument is an address: the name (if any) goes as --sni-hostname only.
    PeerProcess client;
    client.setStandardInputFile(QStringLiteral("/dev/null"));
    client.setMergedChannels(true);
    QStringList args{"--insecure", "--print-cert", "-p", QString::number(port)};
    if (!name.isEmpty())
        args << "--sni-hostname" << name;
    args << "127.0.0.1";
    if (!client.start(QStringLiteral("gnutls-cli"), args) || !client.waitForExit(kClientMsecs)) {
        qWarning("%s", qPrintable(client.describe()));
        return {};
    }
    if (output)
        *output = client.standardOutput();
    return fingerprintOfFirstPem(client.standardOutput());
}

QByteArray TestSni::pythonClient(quint16 port, const QString &name, bool rsaOnly)
{
    PeerProcess client;
    client.setMergedChannels(true);
    if (!client.start(QStringLiteral("python3"),
                      {m_python, QString::number(port), name, m_caFile,
                       rsaOnly ? QStringLiteral("rsa") : QStringLiteral("any")}) ||
        !client.waitForExit(kClientMsecs)) {
        qWarning("%s", qPrintable(client.describe()));
        return {};
    }
    return client.standardOutput().trimmed();
}

// name asked for -> certificate expected
static void addNameRows()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no SNI") << QString() << "default";
    QTest::newRow("unknown name") << "unknown.test"
                                  << "default";
    QTest::newRow("exact") << "alpha.test"
                           << "alpha";
    QTest::newRow("exact, other case") << "ALPHA.Test"
                                       << "alpha";
    QTest::newRow("wildcard") << "www.beta.test"
                              << "beta";
    QTest::newRow("wildcard covers one label only") << "a.www.beta.test"
                                                    << "default";
    QTest::newRow("wildcard not for its base") << "beta.test"
                                               << "default";
    QTest::newRow("ECDSA and RSA: ECDSA by default") << "gamma.test"
                                                     << "gamma-ec";
}

void TestSni::opensslGetsCertificateByName_data()
{
    addNameRows();
}

void TestSni::opensslGetsCertificateByName()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QVERIFY(startServer(serverConfiguration()));
    QByteArray output;
    QCOMPARE(opensslClient(m_server->serverPort(), name, {}, &output), fingerprint(expected));
    QVERIFY2(waitUntil([this] { return m_served.size() == 1; }, 5000), output.constData());
    QCOMPARE(m_served.first(), fingerprint(expected));
    QCOMPARE(m_requestedNames.first(), name);
}

void TestSni::gnutlsGetsCertificateByName_data()
{
    addNameRows();
}

void TestSni::gnutlsGetsCertificateByName()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QVERIFY(startServer(serverConfiguration()));
    QByteArray output;
    QCOMPARE(gnutlsClient(m_server->serverPort(), name, &output), fingerprint(expected));
    QVERIFY2(waitUntil([this] { return m_served.size() == 1; }, 5000), output.constData());
    QCOMPARE(m_served.first(), fingerprint(expected));
}

void TestSni::pythonGetsCertificateByName_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    // Python verifies the name too, so only names the served certificate has.
    QTest::newRow("IP address: no SNI, the default") << "127.0.0.1"
                                                     << "default";
    QTest::newRow("localhost: the default's name") << "localhost"
                                                   << "default";
    QTest::newRow("exact") << "alpha.test"
                           << "alpha";
    QTest::newRow("wildcard") << "mail.beta.test"
                              << "beta";
    QTest::newRow("ECDSA and RSA: ECDSA by default") << "gamma.test"
                                                     << "gamma-ec";
}

void TestSni::pythonGetsCertificateByName()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QVERIFY(startServer(serverConfiguration()));
    QCOMPARE(pythonClient(m_server->serverPort(), name), "sha256=" + fingerprint(expected));
    QVERIFY(waitUntil([this] { return m_served.size() == 1; }, 5000));
    QCOMPARE(m_served.first(), fingerprint(expected));
    QCOMPARE(m_requestedNames.first(), name == QLatin1String("127.0.0.1") ? QString() : name);
}

void TestSni::rsaOnlyClientGetsRsaChain_data()
{
    QTest::addColumn<QString>("client");
    QTest::newRow("s_client TLS 1.3, RSA-PSS signatures only") << "tls13-sigalgs";
    QTest::newRow("s_client TLS 1.2, ECDHE-RSA only") << "tls12-cipher";
    QTest::newRow("Python TLS 1.2, ECDHE-RSA only") << "python";
}

void TestSni::rsaOnlyClientGetsRsaChain()
{
    QFETCH(QString, client);
    QVERIFY(startServer(serverConfiguration()));
    const quint16 port = m_server->serverPort();
    const QString name = QStringLiteral("gamma.test");
    if (client == QLatin1String("tls13-sigalgs"))
        QCOMPARE(opensslClient(port, name, {"-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"}),
                 fingerprint("gamma-rsa"));
    else if (client == QLatin1String("tls12-cipher"))
        QCOMPARE(opensslClient(port, name, {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}),
                 fingerprint("gamma-rsa"));
    else
        QCOMPARE(pythonClient(port, name, true), "sha256=" + fingerprint("gamma-rsa"));
    QVERIFY(waitUntil([this] { return m_served.size() == 1; }, 5000));
    QCOMPARE(m_served.first(), fingerprint("gamma-rsa"));
}

void TestSni::secureSocketVerifiesTheChosenCertificate_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("by IP address: no SNI") << QString() << "default";
    QTest::newRow("exact") << "alpha.test"
                           << "alpha";
    QTest::newRow("wildcard") << "imap.beta.test"
                              << "beta";
    QTest::newRow("two key types") << "gamma.test"
                                   << "gamma-ec";
}

void TestSni::secureSocketVerifiesTheChosenCertificate()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QVERIFY(startServer(serverConfiguration()));
    SecureSocket socket;
    SecureConfiguration config;
    config.setCaCertificatesFile(m_caFile);
    config.setUseSystemCaCertificates(false);
    config.setPeerVerifyName(name); // empty: checked against 127.0.0.1, sent as no SNI
    socket.setConfiguration(config);
    socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort());
    waitUntil(
        [&] { return socket.isEncrypted() || socket.state() == QAbstractSocket::UnconnectedState; },
        10000);
    QVERIFY2(socket.isEncrypted(), qPrintable(socket.errorString()));
    QVERIFY(socket.peerVerifyErrors().isEmpty());
    QCOMPARE(socket.peerCertificate().sha256Fingerprint().toHex(), fingerprint(expected));
    QVERIFY(socket.localCertificate().isNull()); // a client without a certificate
    QVERIFY(waitUntil([this] { return m_served.size() == 1; }, 5000));
    QCOMPARE(m_served.first(), fingerprint(expected));
}

void TestSni::firstChainIsDefaultWithoutMainCertificate()
{
    SecureConfiguration config;
    config.addLocalCertificateChain(m_certs["other"], m_keys["other"]);
    config.addLocalCertificateChain(m_certs["alpha"], m_keys["alpha"]);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QCOMPARE(config.validate(true), QString());
    QVERIFY(startServer(config));
    QCOMPARE(opensslClient(m_server->serverPort(), {}), fingerprint("other"));
    QCOMPARE(opensslClient(m_server->serverPort(), "nothing.test"), fingerprint("other"));
    QCOMPARE(opensslClient(m_server->serverPort(), "alpha.test"), fingerprint("alpha"));
}

void TestSni::defaultHasItsRsaTwin()
{
    // No main chain: the first (ECDSA) is the default, with the RSA chain of the same names
    // for clients that send no name and take only RSA.
    SecureConfiguration config;
    config.addLocalCertificateChain(m_certs["gamma-ec"], m_keys["gamma-ec"]);
    config.addLocalCertificateChain(m_certs["alpha"], m_keys["alpha"]);
    config.addLocalCertificateChain(m_certs["gamma-rsa"], m_keys["gamma-rsa"]);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QVERIFY(startServer(config));
    const quint16 port = m_server->serverPort();
    QCOMPARE(opensslClient(port, {}), fingerprint("gamma-ec"));
    QCOMPARE(opensslClient(port, {}, {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}),
             fingerprint("gamma-rsa"));
    QCOMPARE(opensslClient(port, "unknown.test", {"-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"}),
             fingerprint("gamma-rsa"));
    // alpha.test has no RSA chain: an RSA-only client asking for it gets none.
    QByteArray output;
    QVERIFY(
        opensslClient(port, "alpha.test", {"-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"}, &output)
            .isEmpty());
    QVERIFY(waitUntil([this] { return m_failures.size() == 1; }, 5000));
}

void TestSni::unknownNameIsRefused_data()
{
    QTest::addColumn<QString>("client");
    QTest::newRow("openssl") << "openssl";
    QTest::newRow("gnutls") << "gnutls";
    QTest::newRow("python") << "python";
}

void TestSni::unknownNameIsRefused()
{
    QFETCH(QString, client);
    QVERIFY(startServer(serverConfiguration(true)));
    const quint16 port = m_server->serverPort();
    const QString name = QStringLiteral("nobody.test");
    QByteArray output;
    if (client == QLatin1String("openssl")) {
        QVERIFY(opensslClient(port, name, {}, &output).isEmpty());
        QVERIFY2(output.contains("unrecognized name") && output.contains("alert number 112"),
                 output.constData());
    } else if (client == QLatin1String("gnutls")) {
        QVERIFY(gnutlsClient(port, name, &output).isEmpty());
        QVERIFY2(output.contains("The server name sent was not recognized"), output.constData());
    } else {
        output = pythonClient(port, name);
        QVERIFY2(output.contains("TLSV1_UNRECOGNIZED_NAME"), output.constData());
    }
    QVERIFY(waitUntil([this] { return m_failures.size() == 1; }, 5000));
    QVERIFY2(m_failures.first().contains("the client asked for the server name 'nobody.test', "
                                         "which none of our certificates has"),
             qPrintable(m_failures.first()));
    QVERIFY(m_served.isEmpty());

    // Known names and no name at all are still served.
    QCOMPARE(opensslClient(port, "alpha.test"), fingerprint("alpha"));
    QCOMPARE(opensslClient(port, {}), fingerprint("default"));
    QCOMPARE(m_failures.size(), 1);
}

void TestSni::badExtraChainIsRefused_data()
{
    QTest::addColumn<QString>("chainFile");
    QTest::addColumn<QString>("keyFile");
    QTest::addColumn<QString>("passphraseFile");
    QTest::addColumn<QString>("expected");
    QTest::newRow("missing chain file")
        << "missing.pem"
        << "alpha.key" << QString()
        << "cannot read certificate file '%1/missing.pem': No such file or directory";
    QTest::newRow("key of another certificate")
        << "alpha.pem"
        << "other.key" << QString()
        << "private key file '%1/other.key' does not match the certificate of certificate file "
           "'%1/alpha.pem'";
    QTest::newRow("wrong passphrase") << "beta.pem"
                                      << "beta-encrypted.key"
                                      << "wrong.pass"
                                      << "wrong passphrase for private key file "
                                         "'%1/beta-encrypted.key'";
    QTest::newRow("no passphrase") << "beta.pem"
                                   << "beta-encrypted.key" << QString()
                                   << "private key file '%1/beta-encrypted.key' is encrypted and "
                                      "no passphrase was given";
}

void TestSni::badExtraChainIsRefused()
{
    QFETCH(QString, chainFile);
    QFETCH(QString, keyFile);
    QFETCH(QString, passphraseFile);
    QFETCH(QString, expected);
    expected = expected.arg(m_pkiDir.path());
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_certs["default"]);
    config.setPrivateKeyFile(m_keys["default"]);
    config.addLocalCertificateChain(m_certs["gamma-ec"], m_keys["gamma-ec"]); // a good one first
    SecureConfiguration::LocalCertificateChain bad;
    bad.chainFile = m_pkiDir.filePath(chainFile);
    bad.keyFile = m_pkiDir.filePath(keyFile);
    if (!passphraseFile.isEmpty())
        bad.passphraseFile = m_pkiDir.filePath(passphraseFile);
    config.addLocalCertificateChain(bad);
    const QString problem = config.validate(true);
    QVERIFY2(problem.startsWith(expected), qPrintable(problem));

    SecureServer server;
    server.setConfiguration(config);
    QVERIFY(!server.listen(QHostAddress::LocalHost, 0));
    QVERIFY2(server.errorString().contains(expected), qPrintable(server.errorString()));
}

void TestSni::warningsCoverEveryChain()
{
    testpki::CertSpec spec = testpki::serverSpec("old.test", {"old.test"});
    spec.notBeforeOffset = -48 * 3600;
    spec.notAfterOffset = -3600;
    const QString expired = m_pkiDir.issue(QStringLiteral("expired"), spec, &m_ca);
    SecureConfiguration config = serverConfiguration();
    config.addLocalCertificateChain(expired, testpki::PkiDirectory::keyFileOf(expired));
    QCOMPARE(config.validate(true), QString());
    const QStringList warnings = config.certificateWarnings(true);
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(warnings.first().startsWith(QStringLiteral("certificate file '%1' ('CN=old.test') "
                                                        "expired on ")
                                             .arg(expired)),
             qPrintable(warnings.first()));
}

void TestSni::replacedChainFileIsServed()
{
    // A chain of its own, renewed on disk while the server runs: the next handshake a second
    // later serves the new certificate, as for the main certificate.
    RecheckClock clock;
    const QString chain = m_pkiDir.filePath(QStringLiteral("renewed.pem"));
    const QString key = m_pkiDir.filePath(QStringLiteral("renewed.key"));
    QFile::remove(chain);
    QFile::remove(key);
    QVERIFY(QFile::copy(m_certs["alpha"], chain));
    QVERIFY(QFile::copy(m_keys["alpha"], key));
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_certs["default"]);
    config.setPrivateKeyFile(m_keys["default"]);
    config.addLocalCertificateChain(chain, key);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QVERIFY(startServer(config));
    QCOMPARE(opensslClient(m_server->serverPort(), "alpha.test"), fingerprint("alpha"));

    const testpki::Issued renewed =
        testpki::makeCertificate(testpki::serverSpec("alpha.test renewed", {"alpha.test"}), &m_ca);
    m_pkiDir.write(QStringLiteral("renewed.new.key"), renewed.keyPem);
    m_pkiDir.write(QStringLiteral("renewed.new.pem"), renewed.certPem);
    // Key first, then certificate, each by rename(): never a half-written file.
    QVERIFY(::rename(qPrintable(m_pkiDir.filePath("renewed.new.key")), qPrintable(key)) == 0);
    QVERIFY(::rename(qPrintable(m_pkiDir.filePath("renewed.new.pem")), qPrintable(chain)) == 0);
    clock.secondPasses();
    const QByteArray expected =
        SecureCertificate(QByteArray::fromStdString(renewed.certPem)).sha256Fingerprint().toHex();
    QCOMPARE(opensslClient(m_server->serverPort(), "alpha.test"), expected);
    QCOMPARE(opensslClient(m_server->serverPort(), {}), fingerprint("default"));
}

void TestSni::reloadReadsEveryChain()
{
    // SecureServer::reloadConfiguration() reads the extra chains again at once: a renewed one
    // is served to the next client; a broken one is refused naming its file, and the chain
    // loaded before stays in force.
    const QString chain = m_pkiDir.filePath(QStringLiteral("reloaded.pem"));
    const QString key = m_pkiDir.filePath(QStringLiteral("reloaded.key"));
    QFile::remove(chain);
    QFile::remove(key);
    QVERIFY(QFile::copy(m_certs["alpha"], chain));
    QVERIFY(QFile::copy(m_keys["alpha"], key));
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_certs["default"]);
    config.setPrivateKeyFile(m_keys["default"]);
    config.addLocalCertificateChain(chain, key);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QVERIFY(startServer(config));
    const quint16 port = m_server->serverPort();
    QCOMPARE(opensslClient(port, "alpha.test"), fingerprint("alpha"));

    const testpki::Issued renewed =
        testpki::makeCertificate(testpki::serverSpec("alpha.test reloaded", {"alpha.test"}), &m_ca);
    m_pkiDir.write(QStringLiteral("reloaded.new.key"), renewed.keyPem);
    m_pkiDir.write(QStringLiteral("reloaded.new.pem"), renewed.certPem);
    QVERIFY(::rename(qPrintable(m_pkiDir.filePath("reloaded.new.key")), qPrintable(key)) == 0);
    QVERIFY(::rename(qPrintable(m_pkiDir.filePath("reloaded.new.pem")), qPrintable(chain)) == 0);
    QVERIFY2(m_server->reloadConfiguration(), qPrintable(m_server->errorString()));
    const QByteArray renewedPrint =
        SecureCertificate(QByteArray::fromStdString(renewed.certPem)).sha256Fingerprint().toHex();
    QCOMPARE(opensslClient(port, "alpha.test"), renewedPrint);

    // The key of another certificate: refused, naming the file; the renewed chain stays.
    QVERIFY(QFile::remove(key));
    QVERIFY(QFile::copy(m_keys["other"], key));
    QVERIFY(!m_server->reloadConfiguration());
    QVERIFY2(m_server->errorString().contains(
                 QStringLiteral("private key file '%1' does not match the certificate").arg(key)),
             qPrintable(m_server->errorString()));
    QCOMPARE(opensslClient(port, "alpha.test"), renewedPrint);
    QCOMPARE(opensslClient(port, {}), fingerprint("default"));
}

void TestSni::configurationComparesChains()
{
    const SecureConfiguration a = serverConfiguration();
    SecureConfiguration b = serverConfiguration();
    QVERIFY(a == b);
    QCOMPARE(b.localCertificateChains().size(), 4);
    QCOMPARE(b.localCertificateChains().at(1).passphraseFile, m_passphraseFile);
    b.setRefuseUnknownServerName(true);
    QVERIFY(a != b);
    QVERIFY(b.refuseUnknownServerName());
    b = serverConfiguration();
    b.addLocalCertificateChain(m_certs["other"], m_keys["other"], "secret");
    QVERIFY(a != b);
    QCOMPARE(b.localCertificateChains().last().passphrase, QByteArray("secret"));
    b.clearLocalCertificateChains();
    QVERIFY(b.localCertificateChains().isEmpty());
    QVERIFY(a != b);

    // In memory, with an encrypted key and its passphrase.
    SecureConfiguration memory;
    memory.setLocalCertificateChainFile(m_certs["default"]);
    memory.setPrivateKeyFile(m_keys["default"]);
    SecureConfiguration::LocalCertificateChain beta;
    QFile certFile(m_certs["beta"]), keyFile(m_keys["beta"]);
    QVERIFY(certFile.open(QIODevice::ReadOnly) && keyFile.open(QIODevice::ReadOnly));
    beta.chainPem = certFile.readAll();
    beta.keyPem = keyFile.readAll();
    beta.passphrase = "beta secret";
    memory.addLocalCertificateChain(beta);
    memory.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QCOMPARE(memory.validate(true), QString());
    QVERIFY(startServer(memory));
    QCOMPARE(opensslClient(m_server->serverPort(), "x.beta.test"), fingerprint("beta"));
}

namespace {
QString echoserverPath()
{
    return QStringLiteral(ECHOSERVER_PATH);
}

// The echoserver log line of the connection served for sni (the last such line).
QByteArray logLineFor(const QByteArray &log, const QByteArray &sni)
{
    const QByteArray needle = " sni=" + sni + "\n";
    const qsizetype at = log.lastIndexOf(needle);
    if (at < 0)
        return {};
    const qsizetype start = log.lastIndexOf('\n', at) + 1;
    return log.mid(start, at + needle.size() - 1 - start);
}
} // namespace

void TestSni::echoserverServesByName()
{
    servertest::EchoServer server(echoserverPath());
    QVERIFY2(
        server.start({"--port", "0", "--cert", m_certs["default"], "--key", m_keys["default"],
                      "--certificates", m_certs["alpha"] + ':' + m_keys["alpha"], "--certificates",
                      m_certs["beta"] + ':' + m_keys["beta"] + ':' + m_passphraseFile,
                      "--certificates", m_certs["gamma-ec"] + ':' + m_keys["gamma-ec"],
                      "--certificates", m_certs["gamma-rsa"] + ':' + m_keys["gamma-rsa"]}),
        qPrintable(server.process().describe()));
    const quint16 port = server.port();
    struct Case
    {
        QString name;
        QString expected;
        QString client;
    };
    const Case cases[] = {
        {{}, "default", "openssl"},           {"unknown.test", "default", "openssl"},
        {"alpha.test", "alpha", "gnutls"},    {"pop.beta.test", "beta", "openssl"},
        {"gamma.test", "gamma-ec", "python"},
    };
    for (const Case &c : cases) {
        const QByteArray got = c.client == QLatin1String("openssl") ? opensslClient(port, c.name)
                               : c.client == QLatin1String("gnutls")
                                   ? gnutlsClient(port, c.name)
                                   : pythonClient(port, c.name).mid(7);
        QCOMPARE(got, fingerprint(c.expected));
        const QByteArray sni = c.name.isEmpty() ? QByteArray("none") : c.name.toUtf8();
        QVERIFY2(server.waitForLog(" sni=" + sni + "\n"), server.log().constData());
        const QByteArray line = logLineFor(server.log(), sni);
        QVERIFY2(line.contains(" served-sha256=" + fingerprint(c.expected).left(16) + " "),
                 line.constData());
        QVERIFY2(line.contains(" served=\"CN="), line.constData());
    }
    // The RSA chain for a client that takes nothing else.
    QCOMPARE(
        opensslClient(port, "gamma.test", {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}),
        fingerprint("gamma-rsa"));
    QVERIFY2(waitUntil(
                 [&] {
                     return server.log().contains("served-sha256=" +
                                                  fingerprint("gamma-rsa").left(16));
                 },
                 5000),
             server.log().constData());
    QVERIFY2(server.unexpectedLog().isEmpty(), server.unexpectedLog().constData());
}

void TestSni::echoserverIniRefusesUnknownNames()
{
    const QString ini = m_pkiDir.write(
        QStringLiteral("sni.ini"),
        QStringLiteral("[Listener.sni]\naddress = 127.0.0.1\nport = 0\n"
                       "certificates = %1:%2, %3:%4:%5\nrefuseUnknownServerName = true\n")
            .arg(m_certs["alpha"], m_keys["alpha"], m_certs["beta"], m_keys["beta"],
                 m_passphraseFile)
            .toStdString());
    servertest::EchoServer server(echoserverPath());
    QVERIFY2(server.start({"--config", ini}), qPrintable(server.process().describe()));
    const quint16 port = server.port(QStringLiteral("sni"));
    QCOMPARE(opensslClient(port, "w.beta.test"), fingerprint("beta"));
    QCOMPARE(opensslClient(port, {}), fingerprint("alpha")); // the first is the default
    QByteArray output;
    QVERIFY(opensslClient(port, "gamma.test", {}, &output).isEmpty());
    QVERIFY2(output.contains("unrecognized name"), output.constData());
    QVERIFY2(server.waitForLog("handshake failed: "), server.log().constData());
    QVERIFY2(server.log().contains("the client asked for the server name 'gamma.test'"),
             server.log().constData());
}

void TestSni::echoserverRefusesBadPair()
{
    {
        servertest::EchoServer server(echoserverPath());
        QVERIFY(!server.start(
            {"--port", "0", "--certificates", m_certs["alpha"] + ':' + m_keys["other"]}));
        QVERIFY(server.process().waitForExit(5000));
        QVERIFY2(server.log().contains(("private key file '" + m_keys["other"] +
                                        "' does not match the certificate of certificate file '" +
                                        m_certs["alpha"] + "'")
                                           .toUtf8()),
                 server.log().constData());
    }
    {
        servertest::EchoServer server(echoserverPath());
        QVERIFY(!server.start({"--port", "0", "--certificates", m_certs["alpha"]}));
        QVERIFY(server.process().waitForExit(5000));
        QCOMPARE(server.process().exitCode(), 64);
        QVERIFY2(server.log().contains("is not CERT:KEY or CERT:KEY:PASSPHRASEFILE"),
                 server.log().constData());
    }
}

QTEST_MAIN(TestSni)
#include "tst_sni.moc"
