// The QDebug operators of the public types (doc/debugging.md): what qDebug() prints for a
// certificate, a list of verification failures, a configuration (never a key, passphrase or
// pre-shared key), and each enum; the stream's nospace()/noquote() state is respected and
// restored, as Qt's own operators do.
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "testpki.h"

#include <QDebug>
#include <QTest>

namespace {

template <typename T> QString print(const T &value)
{
    QString text;
    QDebug(&text) << value;
    return text.trimmed();
}

template <typename T> QString printNoQuote(const T &value)
{
    QString text;
    QDebug(&text).noquote() << value;
    return text.trimmed();
}

const QByteArray kPassphrase = "debug-stream-passphrase-3c5e";
const QByteArray kPsk = QByteArray::fromHex("c0ffee5ecc0ffee5ecc0ffee5ecc0ffee5e0aa55aa55");
const QByteArray kServerPsk = QByteArray::fromHex("b16b00b5deadbeef0011223344556677");

} // namespace

class tst_DebugStream : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void certificate();
    void certificateError();
    void errorList();
    void streamStateRestored();
    void configurationWithoutSecrets();
    void localCertificateChain();
    void verifyError_data();
    void verifyError();
    void configurationEnums();
    void qtEnums();

private:
    testpki::Issued m_ca;
    testpki::Issued m_server;
    SecureCertificate m_certificate;
};

void tst_DebugStream::initTestCase()
{
    m_ca = testpki::makeCertificate(testpki::caSpec("Debug CA"));
    m_server = testpki::makeCertificate(testpki::localhostSpec(), &m_ca);
    m_certificate = SecureCertificate(QByteArray::fromStdString(m_server.certPem));
    QVERIFY(!m_certificate.isNull());
}

void tst_DebugStream::certificate()
{
    const QString notAfter = m_certificate.notAfter().toString(Qt::ISODate);
    const QString sha = QString::fromLatin1(m_certificate.sha256Fingerprint().left(8).toHex(':'));
    QCOMPARE(print(m_certificate), QStringLiteral("SecureCertificate(\"CN=localhost\", issuer "
                                                  "\"CN=Debug CA\", notAfter %1, sha256 %2...)")
                                       .arg(notAfter, sha));
    QCOMPARE(printNoQuote(m_certificate),
             QStringLiteral("SecureCertificate(CN=localhost, issuer CN=Debug CA, notAfter %1, "
                            "sha256 %2...)")
                 .arg(notAfter, sha));
    QVERIFY(notAfter.endsWith('Z'));
    QCOMPARE(print(SecureCertificate()), QStringLiteral("SecureCertificate(null)"));
}

void tst_DebugStream::certificateError()
{
    SecureCertificateError error;
    error.error = VerifyError::HostnameMismatch;
    error.message = QStringLiteral("hostname mismatch: certificate 'CN=localhost' is not valid "
                                   "for 'example.org'");
    error.depth = 0;
    error.subject = QStringLiteral("CN=localhost");
    error.certificate = m_certificate;
    QCOMPARE(print(error),
             QStringLiteral("SecureCertificateError(VerifyError::HostnameMismatch, depth 0, "
                            "\"CN=localhost\", \"hostname mismatch: certificate 'CN=localhost' "
                            "is not valid for 'example.org'\")"));
}

// qDebug() << socket->peerVerifyErrors(): Qt's QList operator around ours.
void tst_DebugStream::errorList()
{
    SecureCertificateError expired;
    expired.error = VerifyError::Expired;
    expired.message = QStringLiteral("certificate expired");
    expired.subject = QStringLiteral("CN=localhost");
    SecureCertificateError issuer;
    issuer.error = VerifyError::UnknownIssuer;
    issuer.depth = 1;
    issuer.message = QStringLiteral("unknown issuer");
    issuer.subject = QStringLiteral("CN=Debug CA");
    const QList<SecureCertificateError> errors = {expired, issuer};
    QCOMPARE(print(errors),
             QStringLiteral("QList(SecureCertificateError(VerifyError::Expired, depth 0, "
                            "\"CN=localhost\", \"certificate expired\"), "
                            "SecureCertificateError(VerifyError::UnknownIssuer, depth 1, "
                            "\"CN=Debug CA\", \"unknown issuer\"))"));
    QCOMPARE(printNoQuote(errors),
             QStringLiteral("QList(SecureCertificateError(VerifyError::Expired, depth 0, "
                            "CN=localhost, certificate expired), "
                            "SecureCertificateError(VerifyError::UnknownIssuer, depth 1, "
                            "CN=Debug CA, unknown issuer))"));
}

// The operators switch to nospace() inside and give the caller's state back.
void tst_DebugStream::streamStateRestored()
{
    QString text;
    QDebug(&text) << "before" << VerifyError::Expired << SecureCertificate() << "after";
    QCOMPARE(text.trimmed(),
             QStringLiteral("before VerifyError::Expired SecureCertificate(null) after"));
    text.clear();
    QDebug(&text).nospace() << "a" << VerifyError::Revoked << "b";
    QCOMPARE(text, QStringLiteral("aVerifyError::Revokedb"));
}

void tst_DebugStream::configurationWithoutSecrets()
{
    const std::string encrypted = testpki::encryptKey(m_server.keyPem, kPassphrase.toStdString());
    SecureConfiguration config;
    config.setCaCertificatesFile(QStringLiteral("/etc/example/ca.pem"));
    config.setLocalCertificateChainPem(QByteArray::fromStdString(m_server.certPem));
    config.setPrivateKeyPem(QByteArray::fromStdString(encrypted));
    config.setPrivateKeyPassphrase(kPassphrase);
    config.addLocalCertificateChain(QStringLiteral("/etc/example/other.pem"),
                                    QStringLiteral("/etc/example/other.key"), kPassphrase);
    config.setPreSharedKey("device-12", kPsk);
    config.setPreSharedKeys({{"client-a", kServerPsk}, {"client-b", kServerPsk}});
    config.setPinnedPublicKeys({m_certificate.publicKeyPin()});
    config.setPeerVerifyName(QStringLiteral("mail.example.org"));
    config.setMinimumProtocol(SecureConfiguration::Tls13);

    const QString text = print(config);
    for (const QString &part :
         {QStringLiteral("SecureConfiguration(protocols SecureConfiguration::Tls13.."
                         "SecureConfiguration::Tls13, SecureConfiguration::AutoVerifyPeer"),
          QStringLiteral("peer verify name \"mail.example.org\""),
          QStringLiteral("CAs: system, file \"/etc/example/ca.pem\""),
          QStringLiteral("local certificate: PEM in memory ("),
          QStringLiteral("key in memory: set"), QStringLiteral("passphrase: set"),
          QStringLiteral("1 more chains (SNI)"), QStringLiteral("1 pins"),
          QStringLiteral("pre-shared keys on, identity \"device-12\", key set"),
          QStringLiteral("keys for 2 identities"), QStringLiteral("handshake timeout 30000 ms)")}) {
        QVERIFY2(text.contains(part), qPrintable(part + " not in: " + text));
    }
    const QByteArray utf8 = text.toUtf8();
    for (const QByteArray &secret :
         {kPassphrase, kPsk, kPsk.toHex(), kPsk.toHex().toUpper(), kPsk.toBase64(), kServerPsk,
          kServerPsk.toHex(), kServerPsk.toBase64(), QByteArray("client-a")}) {
        QVERIFY2(!utf8.contains(secret), qPrintable("a secret in: " + text));
    }
    for (const QByteArray &line : QByteArray::fromStdString(encrypted).split('\n')) {
        if (!line.isEmpty())
            QVERIFY2(!utf8.contains(line), qPrintable("the key's PEM in: " + text));
    }

    // The defaults, printed in full.
    QCOMPARE(print(SecureConfiguration()),
             QStringLiteral("SecureConfiguration(protocols SecureConfiguration::Tls12.."
                            "SecureConfiguration::Tls13, SecureConfiguration::AutoVerifyPeer, "
                            "CAs: system; local certificate: none; session resumption on; "
                            "handshake timeout 30000 ms)"));
}

void tst_DebugStream::localCertificateChain()
{
    SecureConfiguration::LocalCertificateChain chain;
    chain.chainFile = QStringLiteral("/srv/a.pem");
    chain.keyPem = QByteArray::fromStdString(m_server.keyPem);
    chain.passphrase = kPassphrase;
    QCOMPARE(print(chain),
             QStringLiteral("LocalCertificateChain(chain file \"/srv/a.pem\", key in memory: set, "
                            "passphrase: set)"));
    SecureConfiguration::LocalCertificateChain files;
    files.chainPem = "0123456789";
    files.keyFile = QStringLiteral("/srv/b.key");
    files.passphraseFile = QStringLiteral("/srv/b.pass");
    QCOMPARE(print(files),
             QStringLiteral("LocalCertificateChain(chain PEM in memory (10 bytes), key file "
                            "\"/srv/b.key\", passphrase file \"/srv/b.pass\")"));
}

void tst_DebugStream::verifyError_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("expected");
    const char *names[] = {"NoError",
                           "Expired",
                           "NotYetValid",
                           "SelfSigned",
                           "UnknownIssuer",
                           "MissingIntermediate",
                           "HostnameMismatch",
                           "IpAddressMismatch",
                           "InvalidPurpose",
                           "Revoked",
                           "UntrustedRoot",
                           "ChainTooLong",
                           "InvalidCa",
                           "BadSignature",
                           "NoPeerCertificate",
                           "CrlProblem",
                           "WeakKey",
                           "InvalidCertificate",
                           "OcspResponseMissing",
                           "OcspResponseInvalid",
                           "OcspResponseExpired",
                           "OcspRevoked",
                           "PinMismatch"};
    int code = 0;
    for (const char *name : names) {
        QTest::newRow(name) << code << QStringLiteral("VerifyError::%1").arg(name);
        ++code;
    }
    QTest::newRow("Other") << 99 << QStringLiteral("VerifyError::Other");
    QTest::newRow("unknown") << 42 << QStringLiteral("VerifyError(42)");
}

void tst_DebugStream::verifyError()
{
    QFETCH(int, code);
    QFETCH(QString, expected);
    QCOMPARE(print(static_cast<VerifyError>(code)), expected);
}

void tst_DebugStream::configurationEnums()
{
    QCOMPARE(print(SecureConfiguration::VerifyPeer),
             QStringLiteral("SecureConfiguration::VerifyPeer"));
    QCOMPARE(print(SecureConfiguration::QueryPeer),
             QStringLiteral("SecureConfiguration::QueryPeer"));
    QCOMPARE(print(SecureConfiguration::VerifyNone),
             QStringLiteral("SecureConfiguration::VerifyNone"));
    QCOMPARE(print(SecureConfiguration::AutoVerifyPeer),
             QStringLiteral("SecureConfiguration::AutoVerifyPeer"));
    QCOMPARE(print(SecureConfiguration::Tls12), QStringLiteral("SecureConfiguration::Tls12"));
    QCOMPARE(print(SecureConfiguration::Tls13), QStringLiteral("SecureConfiguration::Tls13"));
    QCOMPARE(print(SecureConfiguration::PinsAddToVerification),
             QStringLiteral("SecureConfiguration::PinsAddToVerification"));
    QCOMPARE(print(SecureConfiguration::PinsAreTrustAnchors),
             QStringLiteral("SecureConfiguration::PinsAreTrustAnchors"));
}

// The enums of the QObject classes are Q_ENUMs: QMetaEnum prints them.
void tst_DebugStream::qtEnums()
{
    QCOMPARE(print(SecureSocket::ClientMode), QStringLiteral("SecureSocket::ClientMode"));
    QCOMPARE(print(SecureSocket::CertificateRejected),
             QStringLiteral("SecureSocket::CertificateRejected"));
    QCOMPARE(print(SecureSocket::OcspRevoked), QStringLiteral("SecureSocket::OcspRevoked"));
    QCOMPARE(print(SecureServer::RequireClientCertificate),
             QStringLiteral("SecureServer::RequireClientCertificate"));
}

QTEST_MAIN(tst_DebugStream)
#include "tst_debugstream.moc"
