// SecureCertificate: what it reads from a certificate (names, dates, fingerprint, key type and
// size, signature algorithm), for each kind of key the test PKI makes.
#include <SecureSocket/securecertificate.h>

#include "testpki.h"

#include <QTest>

class tst_Certificate : public QObject
{
    Q_OBJECT

private slots:
    void keyAndSignature_data();
    void keyAndSignature();
    void namesDatesAndFingerprint();
    void nullCertificate();
};

void tst_Certificate::keyAndSignature_data()
{
    QTest::addColumn<int>("issuerKey"); // testpki::KeyType of the CA, which decides the signature
    QTest::addColumn<int>("leafKey");
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("curve");
    QTest::addColumn<int>("bits");
    QTest::addColumn<QString>("signature");
    using testpki::KeyType;
    QTest::newRow("EC P-256 by EC") << int(KeyType::EcdsaP256) << int(KeyType::EcdsaP256) << "EC"
                                    << "P-256" << 256 << "ecdsa-with-SHA256";
    QTest::newRow("RSA 2048 by RSA") << int(KeyType::Rsa2048) << int(KeyType::Rsa2048) << "RSA"
                                     << "" << 2048 << "sha256WithRSAEncryption";
    QTest::newRow("RSA 2048 by EC") << int(KeyType::EcdsaP256) << int(KeyType::Rsa2048) << "RSA"
                                    << "" << 2048 << "ecdsa-with-SHA256";
    QTest::newRow("Ed25519 by Ed25519")
        << int(KeyType::Ed25519) << int(KeyType::Ed25519) << "Ed25519"
        << "" << 256 << "ED25519";
    QTest::newRow("EC P-256 by RSA") << int(KeyType::Rsa2048) << int(KeyType::EcdsaP256) << "EC"
                                     << "P-256" << 256 << "sha256WithRSAEncryption";
}

void tst_Certificate::keyAndSignature()
{
    QFETCH(int, issuerKey);
    QFETCH(int, leafKey);
    QFETCH(QString, algorithm);
    QFETCH(QString, curve);
    QFETCH(int, bits);
    QFETCH(QString, signature);

    testpki::CertSpec caSpec = testpki::caSpec("Key Test CA");
    caSpec.keyType = static_cast<testpki::KeyType>(issuerKey);
    const testpki::Issued ca = testpki::makeCertificate(caSpec);
    testpki::CertSpec leafSpec = testpki::localhostSpec();
    leafSpec.keyType = static_cast<testpki::KeyType>(leafKey);
    const testpki::Issued leaf = testpki::makeCertificate(leafSpec, &ca);

    const SecureCertificate cert(QByteArray::fromStdString(leaf.certPem));
    QVERIFY(!cert.isNull());
    QCOMPARE(cert.publicKeyAlgorithm(), algorithm);
    QCOMPARE(cert.publicKeyCurve(), curve);
    QCOMPARE(cert.publicKeyBits(), bits);
    QCOMPARE(cert.signatureAlgorithm(), signature);
    // A copy shares them.
    const SecureCertificate copy = cert;
    QCOMPARE(copy.publicKeyAlgorithm(), algorithm);
    QCOMPARE(copy.signatureAlgorithm(), signature);
}

void tst_Certificate::namesDatesAndFingerprint()
{
    testpki::CertSpec spec =
        testpki::serverSpec("probe.test", {"probe.test", "www.probe.test"}, {"127.0.0.1", "::1"});
    spec.notBeforeOffset = -2 * 24 * 3600;
    spec.notAfterOffset = 10 * 24 * 3600;
    const testpki::Issued self = testpki::makeCertificate(spec);
    const SecureCertificate cert(QByteArray::fromStdString(self.certPem));
    QCOMPARE(cert.subject(), QStringLiteral("CN=probe.test"));
    QCOMPARE(cert.issuer(), QStringLiteral("CN=probe.test"));
    QCOMPARE(cert.subjectAltNames(),
             (QStringList{"DNS:probe.test", "DNS:www.probe.test", "IP:127.0.0.1", "IP:::1"}));
    const QDateTime now = QDateTime::currentDateTimeUtc();
    QVERIFY(qAbs(cert.notAfter().secsTo(now.addDays(10))) < 120);
    QVERIFY(qAbs(cert.notBefore().secsTo(now.addDays(-2))) < 120);
    QCOMPARE(cert.sha256Fingerprint().size(), 32);
}

void tst_Certificate::nullCertificate()
{
    const SecureCertificate none;
    QVERIFY(none.isNull());
    QVERIFY(none.publicKeyAlgorithm().isEmpty());
    QVERIFY(none.publicKeyCurve().isEmpty());
    QCOMPARE(none.publicKeyBits(), 0);
    QVERIFY(none.signatureAlgorithm().isEmpty());
    const SecureCertificate garbage(QByteArray("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                               "-----END CERTIFICATE-----\n"));
    QVERIFY(garbage.isNull());
    QCOMPARE(garbage.publicKeyBits(), 0);
}

QTEST_APPLESS_MAIN(tst_Certificate)
#include "tst_certificate.moc"
