// SecureSocket::setConfiguration(QSslConfiguration): the settings of code migrating from
// QSslSocket, taken over. Reading a QSslConfiguration loads Qt's own TLS plug-in; nothing else
// in the library does.
#include <SecureSocket/securesocket.h>

#include "securesocket_p.h"

#include <QSslCipher>
#include <QSslConfiguration>
#include <QSslKey>

namespace {
QByteArray pemOf(const QList<QSslCertificate> &certs)
{
    QByteArray pem;
    for (const QSslCertificate &cert : certs)
        pem += cert.toPem();
    return pem;
}
} // namespace

void SecureSocket::setConfiguration(const QSslConfiguration &qt)
{
    SecureConfiguration config;
    const QList<QSslCertificate> cas = qt.caCertificates();
    if (!cas.isEmpty() && cas != QSslConfiguration::systemCaCertificates()) {
        config.setUseSystemCaCertificates(false);
        config.setCaCertificatesPem(pemOf(cas));
    }
    config.setLocalCertificateChainPem(pemOf(qt.localCertificateChain()));
    if (!qt.privateKey().isNull())
        config.setPrivateKeyPem(qt.privateKey().toPem());
    switch (qt.peerVerifyMode()) {
    case QSslSocket::VerifyNone:
        config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
        break;
    case QSslSocket::QueryPeer:
        config.setPeerVerifyMode(SecureConfiguration::QueryPeer);
        break;
    case QSslSocket::VerifyPeer:
        config.setPeerVerifyMode(SecureConfiguration::VerifyPeer);
        break;
    case QSslSocket::AutoVerifyPeer:
        config.setPeerVerifyMode(SecureConfiguration::AutoVerifyPeer);
        break;
    }
    switch (qt.protocol()) {
    case QSsl::TlsV1_3:
        config.setMaximumProtocol(SecureConfiguration::Tls13);
        Q_FALLTHROUGH();
    case QSsl::TlsV1_3OrLater:
        config.setMinimumProtocol(SecureConfiguration::Tls13);
        break;
    case QSsl::TlsV1_2:
        config.setMaximumProtocol(SecureConfiguration::Tls12);
        break;
    default:
        break;
    }
    QByteArray list, suites;
    if (qt.ciphers() != QSslConfiguration::supportedCiphers()) {
        for (const QSslCipher &cipher : qt.ciphers()) {
            QByteArray &target = cipher.name().startsWith(QLatin1String("TLS_")) ? suites : list;
            target += (target.isEmpty() ? "" : ":") + cipher.name().toLatin1();
        }
    }
    config.setCipherList(list);
    config.setCipherSuites(suites);
    config.setAlpnProtocols(qt.allowedNextProtocols());
    config.setPeerVerifyName(d->m_config.peerVerifyName());
    d->m_config = config;
}
