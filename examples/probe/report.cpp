// securesocket-probe: the report. Each verification failure the library reports (a VerifyError
// code and its sentence) becomes a sentence for a person and its likely fix.
#include "report.h"

#include <QJsonArray>

namespace probe {

namespace {

// The stapled OCSP response's status: a short name (JSON) and a sentence.
const char *ocspName(SecureSocket::OcspStatus status)
{
    switch (status) {
    case SecureSocket::OcspGood:
        return "good";
    case SecureSocket::OcspRevoked:
        return "revoked";
    case SecureSocket::OcspUnknown:
        return "unknown";
    case SecureSocket::OcspInvalid:
        return "invalid";
    case SecureSocket::OcspExpired:
        return "expired";
    case SecureSocket::OcspNone:
        break;
    }
    return "none";
}

QString ocspText(SecureSocket::OcspStatus status)
{
    switch (status) {
    case SecureSocket::OcspGood:
        return QStringLiteral("good (a current response, signed for the issuer, was stapled)");
    case SecureSocket::OcspRevoked:
        return QStringLiteral("REVOKED: the stapled response says the certificate is revoked");
    case SecureSocket::OcspUnknown:
        return QStringLiteral("unknown: the responder does not know the certificate");
    case SecureSocket::OcspInvalid:
        return QStringLiteral("invalid: the stapled response is malformed, unsuccessful, wrongly "
                              "signed or for another certificate");
    case SecureSocket::OcspExpired:
        return QStringLiteral("expired: the stapled response is out of date (the server must "
                              "fetch a new one)");
    case SecureSocket::OcspNone:
        break;
    }
    return QStringLiteral("none stapled");
}

QString date(const QDateTime &time)
{
    return time.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

// Whole days from now to then, rounded down (negative once past).
qint64 daysUntil(const QDateTime &now, const QDateTime &then)
{
    const qint64 seconds = now.secsTo(then);
    return seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
}

QString daysLeftText(const QDateTime &now, const QDateTime &notAfter)
{
    const qint64 seconds = now.secsTo(notAfter);
    if (seconds < 0) {
        const qint64 days = -seconds / 86400;
        return days == 0
                   ? QStringLiteral("expired less than a day ago")
                   : QStringLiteral("expired %1 day%2 ago").arg(days).arg(days == 1 ? "" : "s");
    }
    const qint64 days = seconds / 86400;
    return QStringLiteral("%1 day%2 left").arg(days).arg(days == 1 ? "" : "s");
}

QString startsText(const QDateTime &now, const QDateTime &notBefore)
{
    const qint64 days = qMax<qint64>(0, now.secsTo(notBefore)) / 86400;
    return days == 0 ? QStringLiteral("in less than a day")
                     : QStringLiteral("in %1 day%2").arg(days).arg(days == 1 ? "" : "s");
}

QString keyText(const SecureCertificate &cert)
{
    const QString algorithm = cert.publicKeyAlgorithm();
    if (!cert.publicKeyCurve().isEmpty())
        return algorithm + QLatin1Char(' ') + cert.publicKeyCurve();
    if (algorithm.startsWith(QLatin1String("Ed")) || cert.publicKeyBits() <= 0)
        return algorithm;
    return algorithm + QLatin1Char(' ') + QString::number(cert.publicKeyBits());
}

// "localhost, 127.0.0.1": the DNS and IP names a certificate is valid for.
QString validNames(const SecureCertificate &cert)
{
    QStringList names;
    for (const QString &san : cert.subjectAltNames()) {
        if (san.startsWith(QLatin1String("DNS:")) || san.startsWith(QLatin1String("IP:")))
            names << san.mid(san.indexOf(QLatin1Char(':')) + 1);
    }
    return names.join(QLatin1String(", "));
}

const QString kChainFix = QStringLiteral(
    "its certificate file should hold the chain: its own certificate first, then the "
    "intermediates");

QString trustFix(const QString &what)
{
    return QStringLiteral("If you mean to trust %1, trust it with --cafile FILE (its "
                          "certificate in PEM)")
        .arg(what);
}

} // namespace

Problem explain(const SecureCertificateError &error, const Options &options, const Attempt &attempt,
                const QDateTime &now)
{
    Problem p;
    p.code = error.error;
    p.detail = error.message;
    p.message = error.message; // the library's own sentence, unless a plainer one follows
    const SecureCertificate &cert = error.certificate;
    const QString subject = QLatin1Char('\'') + error.subject + QLatin1Char('\'');
    const QString issuer = QLatin1Char('\'') + cert.issuer() + QLatin1Char('\'');
    switch (error.error) {
    case VerifyError::Expired:
        p.message = QStringLiteral("The certificate %1 expired on %2 (%3).")
                        .arg(subject, date(cert.notAfter()), daysLeftText(now, cert.notAfter()));
        p.fix = QStringLiteral("The server must renew it and load the new one (if the date "
                               "looks wrong, check this machine's clock: it says %1).")
                    .arg(date(now));
        break;
    case VerifyError::NotYetValid:
        p.message = QStringLiteral("The certificate %1 is not valid before %2 (%3).")
                        .arg(subject, date(cert.notBefore()), startsText(now, cert.notBefore()));
        p.fix = QStringLiteral("Check this machine's clock (it says %1); if it is right, the "
                               "server installed its new certificate too early and should "
                               "keep the old one until then.")
                    .arg(date(now));
        break;
    case VerifyError::SelfSigned:
        p.message = QStringLiteral("The server's certificate %1 is self-signed: it signed "
                                   "itself, and nothing here trusts it.")
                        .arg(subject);
        p.fix = trustFix(QStringLiteral("this server")) +
                QStringLiteral("; a server for the public needs a certificate from a CA that "
                               "clients trust.");
        break;
    case VerifyError::UnknownIssuer:
        p.message = QStringLiteral("The certificate %1 was issued by %2, which the server did "
                                   "not send and which is not a trusted CA here.")
                        .arg(subject, issuer);
        p.fix = QStringLiteral("If %1 is an intermediate CA, the server must send it: %2. If "
                               "it is a private root CA you mean to trust, trust it with "
                               "--cafile FILE (its certificate in PEM).")
                    .arg(issuer, kChainFix);
        break;
    case VerifyError::MissingIntermediate:
        p.message = QStringLiteral("Missing intermediate certificate: the server did not send "
                                   "%1, the intermediate CA that issued %2.")
                        .arg(issuer, subject);
        p.fix = QStringLiteral("The server must send it: %1.").arg(kChainFix);
        break;
    case VerifyError::UntrustedRoot:
        p.message = QStringLiteral("The chain ends in the root CA %1, which is not trusted "
                                   "here.")
                        .arg(subject);
        p.fix = trustFix(QStringLiteral("this CA")) +
                QStringLiteral("; otherwise the server needs a certificate from a CA that "
                               "clients trust.");
        break;
    case VerifyError::HostnameMismatch:
    case VerifyError::IpAddressMismatch: {
        const SecureCertificate leaf = attempt.chain.value(0, cert);
        const QString names = validNames(leaf.isNull() ? cert : leaf);
        const bool address = error.error == VerifyError::IpAddressMismatch;
        p.message = (address ? QStringLiteral("Address mismatch: the certificate is not valid "
                                              "for the address %1; ")
                             : QStringLiteral("Hostname mismatch: the certificate is not valid "
                                              "for %1; "))
                        .arg(options.serverName) +
                    (names.isEmpty() ? QStringLiteral("it lists no DNS or IP names at all (the "
                                                      "subject CN is not used).")
                                     : QStringLiteral("it is valid for: %1.").arg(names));
        // The library tells an address listed as a DNS name, which looks right to a person.
        if (address && error.message.contains(QLatin1String("only as a DNS name")))
            p.message = error.message + QLatin1Char('.');
        p.fix = QStringLiteral("Connect with a name the certificate lists (--servername NAME "
                               "checks another name on the same address), or the server needs "
                               "a certificate that includes %1.")
                    .arg(options.serverName);
        break;
    }
    case VerifyError::InvalidPurpose:
        p.fix = QStringLiteral("The server needs a certificate whose extended key usage allows "
                               "a TLS server (serverAuth).");
        break;
    case VerifyError::Revoked:
        p.message =
            QStringLiteral("The certificate %1 was revoked by its CA %2.").arg(subject, issuer);
        p.fix = QStringLiteral("The server needs a new certificate.");
        break;
    case VerifyError::InvalidCa:
        p.fix = QStringLiteral("The server sends a certificate as an issuer that may not issue "
                               "certificates: check the order and the content of its chain "
                               "file.");
        break;
    case VerifyError::WeakKey:
        p.fix = QStringLiteral("The certificate must be reissued with a stronger key (RSA 2048 "
                               "bits or more, or EC) and a SHA-256 signature or better.");
        break;
    default:
        break;
    }
    return p;
}

QString textReport(const Options &options, const Findings &findings, const QDateTime &now)
{
    QString out;
    const auto line = [&out](const QString &label, const QString &value) {
        out += (label + QLatin1Char(':')).leftJustified(15) + value + QLatin1Char('\n');
    };
    const Attempt &a = findings.first;
    line(QStringLiteral("Target"), QStringLiteral("%1 port %2, server name %3")
                                       .arg(options.host)
                                       .arg(options.port)
                                       .arg(options.serverName));
    if (!a.address.isEmpty())
        line(QStringLiteral("Connected to"), a.address);
    if (!options.starttls.isEmpty() && a.connected)
        line(QStringLiteral("STARTTLS"),
             QStringLiteral("%1, accepted (\"%2\")").arg(options.starttls, a.starttlsReply));
    if (!a.encrypted) {
        out += QStringLiteral("\nNo TLS connection: %1\n").arg(a.failure);
        return out;
    }
    line(QStringLiteral("Protocol"), a.protocol);
    line(QStringLiteral("Cipher"), a.cipher);
    line(QStringLiteral("Key exchange"), a.group.isEmpty() ? QStringLiteral("none") : a.group);
    QStringList offered;
    for (const QByteArray &p : options.alpn)
        offered << QString::fromLatin1(p);
    line(QStringLiteral("ALPN"),
         offered.isEmpty()
             ? QStringLiteral("not offered")
             : (a.alpn.isEmpty() ? QStringLiteral("none chosen") : QString::fromLatin1(a.alpn)) +
                   QStringLiteral(" (offered %1)").arg(offered.join(QLatin1Char(','))));
    line(QStringLiteral("Handshake"), QStringLiteral("%1 ms").arg(a.handshakeMsecs));
    const Resumption &r = findings.resumption;
    line(QStringLiteral("Resumption"),
         (r.tested ? (r.resumed ? QStringLiteral("yes: ") : QStringLiteral("no: ")) : QString()) +
             r.note);
    line(QStringLiteral("OCSP"), ocspText(a.ocsp));

    out += QStringLiteral("\nCertificate chain as sent by the server (%1):\n").arg(a.chain.size());
    for (int i = 0; i < a.chain.size(); ++i) {
        const SecureCertificate &c = a.chain.at(i);
        out += QStringLiteral("  %1 subject:   %2\n").arg(i).arg(c.subject());
        out += QStringLiteral("    issuer:    %1\n").arg(c.issuer());
        out += QStringLiteral("    valid:     %1 to %2 (%3)\n")
                   .arg(date(c.notBefore()), date(c.notAfter()), daysLeftText(now, c.notAfter()));
        if (!c.subjectAltNames().isEmpty())
            out += QStringLiteral("    names:     %1\n").arg(c.subjectAltNames().join(", "));
        out += QStringLiteral("    key:       %1\n").arg(keyText(c));
        out += QStringLiteral("    signature: %1\n").arg(c.signatureAlgorithm());
        out += QStringLiteral("    sha256:    %1\n")
                   .arg(QString::fromLatin1(c.sha256Fingerprint().toHex(':')).toUpper());
    }

    if (a.verifyErrors.isEmpty()) {
        out += QStringLiteral("\nVerification: OK: the chain leads to a trusted CA and the "
                              "certificate is valid for %1.\n")
                   .arg(options.serverName);
        return out;
    }
    out += QStringLiteral("\nVerification: FAILED (%1 problem%2)\n")
               .arg(a.verifyErrors.size())
               .arg(a.verifyErrors.size() == 1 ? "" : "s");
    for (const SecureCertificateError &error : a.verifyErrors) {
        const Problem p = explain(error, options, a, now);
        out += QStringLiteral("  - %1\n").arg(p.message);
        if (!p.fix.isEmpty())
            out += QStringLiteral("    Fix: %1\n").arg(p.fix);
    }
    return out;
}

QJsonObject jsonReport(const Options &options, const Findings &findings, const QDateTime &now)
{
    const Attempt &a = findings.first;
    QJsonObject o;
    o[QStringLiteral("host")] = options.host;
    o[QStringLiteral("port")] = options.port;
    o[QStringLiteral("servername")] = options.serverName;
    o[QStringLiteral("starttls")] =
        options.starttls.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(options.starttls);
    o[QStringLiteral("address")] = a.address.isEmpty() ? QJsonValue() : QJsonValue(a.address);
    o[QStringLiteral("connected")] = a.encrypted;
    o[QStringLiteral("error")] = a.encrypted ? QJsonValue() : QJsonValue(a.failure);
    o[QStringLiteral("failed_step")] = a.encrypted ? QJsonValue() : QJsonValue(a.failedStep);
    if (!options.starttls.isEmpty())
        o[QStringLiteral("starttls_reply")] =
            a.starttlsReply.isEmpty() ? QJsonValue() : QJsonValue(a.starttlsReply);
    QJsonArray offered;
    for (const QByteArray &p : options.alpn)
        offered.append(QString::fromLatin1(p));
    o[QStringLiteral("alpn_offered")] = offered;
    if (!a.encrypted)
        return o;

    o[QStringLiteral("protocol")] = a.protocol;
    o[QStringLiteral("cipher")] = a.cipher;
    o[QStringLiteral("group")] = a.group.isEmpty() ? QJsonValue() : QJsonValue(a.group);
    o[QStringLiteral("alpn")] =
        a.alpn.isEmpty() ? QJsonValue() : QJsonValue(QString::fromLatin1(a.alpn));
    o[QStringLiteral("handshake_ms")] = a.handshakeMsecs;
    const Resumption &r = findings.resumption;
    o[QStringLiteral("resumption")] = QJsonObject{{QStringLiteral("tested"), r.tested},
                                                  {QStringLiteral("resumed"), r.resumed},
                                                  {QStringLiteral("verified"), r.verified},
                                                  {QStringLiteral("note"), r.note}};
    o[QStringLiteral("ocsp")] = QLatin1String(ocspName(a.ocsp));

    QJsonArray chain;
    for (const SecureCertificate &c : a.chain) {
        chain.append(QJsonObject{
            {QStringLiteral("subject"), c.subject()},
            {QStringLiteral("issuer"), c.issuer()},
            {QStringLiteral("not_before"), c.notBefore().toUTC().toString(Qt::ISODate)},
            {QStringLiteral("not_after"), c.notAfter().toUTC().toString(Qt::ISODate)},
            {QStringLiteral("days_left"), daysUntil(now, c.notAfter())},
            {QStringLiteral("sans"), QJsonArray::fromStringList(c.subjectAltNames())},
            {QStringLiteral("key"), keyText(c)},
            {QStringLiteral("key_bits"), c.publicKeyBits()},
            {QStringLiteral("signature_algorithm"), c.signatureAlgorithm()},
            {QStringLiteral("sha256"), QString::fromLatin1(c.sha256Fingerprint().toHex())},
        });
    }
    o[QStringLiteral("chain")] = chain;

    QJsonArray problems;
    for (const SecureCertificateError &error : a.verifyErrors) {
        const Problem p = explain(error, options, a, now);
        problems.append(QJsonObject{
            {QStringLiteral("code"), QString::fromLatin1(verifyErrorName(p.code))},
            {QStringLiteral("depth"), error.depth},
            {QStringLiteral("subject"), error.subject},
            {QStringLiteral("message"), p.message},
            {QStringLiteral("fix"), p.fix},
            {QStringLiteral("detail"), p.detail},
        });
    }
    o[QStringLiteral("verification")] = QJsonObject{
        {QStringLiteral("ok"), a.verifyErrors.isEmpty()}, {QStringLiteral("problems"), problems}};
    return o;
}

} // namespace probe
