// QDebug output of the public value types (declared at the end of their headers). As Qt's own
// operators: the stream's nospace() and noquote() state is saved and restored
// (QDebugStateSaver), strings are quoted unless the caller asked for noquote(). No secret
// (private key, passphrase, pre-shared key, ticket key) and no file contents are ever written.
#include <SecureSocket/securecertificate.h>
#include <SecureSocket/secureconfiguration.h>

#include <QDebug>

#ifndef QT_NO_DEBUG_STREAM

namespace {

const char *enumeratorName(VerifyError error)
{
    switch (error) {
    case VerifyError::NoError:
        return "NoError";
    case VerifyError::Expired:
        return "Expired";
    case VerifyError::NotYetValid:
        return "NotYetValid";
    case VerifyError::SelfSigned:
        return "SelfSigned";
    case VerifyError::UnknownIssuer:
        return "UnknownIssuer";
    case VerifyError::MissingIntermediate:
        return "MissingIntermediate";
    case VerifyError::HostnameMismatch:
        return "HostnameMismatch";
    case VerifyError::IpAddressMismatch:
        return "IpAddressMismatch";
    case VerifyError::InvalidPurpose:
        return "InvalidPurpose";
    case VerifyError::Revoked:
        return "Revoked";
    case VerifyError::UntrustedRoot:
        return "UntrustedRoot";
    case VerifyError::ChainTooLong:
        return "ChainTooLong";
    case VerifyError::InvalidCa:
        return "InvalidCa";
    case VerifyError::BadSignature:
        return "BadSignature";
    case VerifyError::NoPeerCertificate:
        return "NoPeerCertificate";
    case VerifyError::CrlProblem:
        return "CrlProblem";
    case VerifyError::WeakKey:
        return "WeakKey";
    case VerifyError::InvalidCertificate:
        return "InvalidCertificate";
    case VerifyError::OcspResponseMissing:
        return "OcspResponseMissing";
    case VerifyError::OcspResponseInvalid:
        return "OcspResponseInvalid";
    case VerifyError::OcspResponseExpired:
        return "OcspResponseExpired";
    case VerifyError::OcspRevoked:
        return "OcspRevoked";
    case VerifyError::PinMismatch:
        return "PinMismatch";
    case VerifyError::Other:
        return "Other";
    }
    return nullptr;
}

// "set" or nothing: a secret is never shown, only whether there is one.
const char *presence(const QByteArray &secret)
{
    return secret.isEmpty() ? "none" : "set";
}

} // namespace

QDebug operator<<(QDebug debug, VerifyError error)
{
    const QDebugStateSaver saver(debug);
    debug.nospace();
    if (const char *name = enumeratorName(error))
        debug << "VerifyError::" << name;
    else
        debug << "VerifyError(" << static_cast<int>(error) << ')';
    return debug;
}

QDebug operator<<(QDebug debug, const SecureCertificate &certificate)
{
    const QDebugStateSaver saver(debug);
    debug.nospace();
    if (certificate.isNull())
        return debug << "SecureCertificate(null)";
    debug << "SecureCertificate(" << certificate.subject() << ", issuer " << certificate.issuer()
          << ", notAfter " << qPrintable(certificate.notAfter().toString(Qt::ISODate))
          << ", sha256 " << certificate.sha256Fingerprint().left(8).toHex(':').constData()
          << "...)";
    return debug;
}

QDebug operator<<(QDebug debug, const SecureCertificateError &error)
{
    const QDebugStateSaver saver(debug);
    debug.nospace();
    debug << "SecureCertificateError(" << error.error << ", depth " << error.depth << ", "
          << error.subject << ", " << error.message << ')';
    return debug;
}

QDebug operator<<(QDebug debug, SecureConfiguration::PeerVerifyMode mode)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "SecureConfiguration::";
    switch (mode) {
    case SecureConfiguration::VerifyPeer:
        return debug << "VerifyPeer";
    case SecureConfiguration::QueryPeer:
        return debug << "QueryPeer";
    case SecureConfiguration::VerifyNone:
        return debug << "VerifyNone";
    case SecureConfiguration::AutoVerifyPeer:
        return debug << "AutoVerifyPeer";
    }
    return debug << "PeerVerifyMode(" << static_cast<int>(mode) << ')';
}

QDebug operator<<(QDebug debug, SecureConfiguration::TlsVersion version)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "SecureConfiguration::";
    switch (version) {
    case SecureConfiguration::Tls12:
        return debug << "Tls12";
    case SecureConfiguration::Tls13:
        return debug << "Tls13";
    }
    return debug << "TlsVersion(" << static_cast<int>(version) << ')';
}

QDebug operator<<(QDebug debug, SecureConfiguration::PinningMode mode)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "SecureConfiguration::";
    switch (mode) {
    case SecureConfiguration::PinsAddToVerification:
        return debug << "PinsAddToVerification";
    case SecureConfiguration::PinsAreTrustAnchors:
        return debug << "PinsAreTrustAnchors";
    }
    return debug << "PinningMode(" << static_cast<int>(mode) << ')';
}

QDebug operator<<(QDebug debug, const SecureConfiguration::LocalCertificateChain &chain)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "LocalCertificateChain(";
    if (!chain.chainFile.isEmpty())
        debug << "chain file " << chain.chainFile;
    else
        debug << "chain PEM in memory (" << chain.chainPem.size() << " bytes)";
    if (!chain.keyFile.isEmpty())
        debug << ", key file " << chain.keyFile;
    else
        debug << ", key in memory: " << presence(chain.keyPem);
    if (!chain.passphraseFile.isEmpty())
        debug << ", passphrase file " << chain.passphraseFile;
    else
        debug << ", passphrase: " << presence(chain.passphrase);
    return debug << ')';
}

QDebug operator<<(QDebug debug, const SecureConfiguration &c)
{
    const QDebugStateSaver saver(debug);
    const SecureConfiguration defaults;
    debug.nospace() << "SecureConfiguration(protocols " << c.minimumProtocol() << ".."
                    << c.maximumProtocol() << ", " << c.peerVerifyMode();
    if (!c.peerVerifyName().isEmpty())
        debug << ", peer verify name " << c.peerVerifyName();

    debug << ", CAs: " << (c.useSystemCaCertificates() ? "system" : "not the system's");
    if (!c.caCertificatesFile().isEmpty())
        debug << ", file " << c.caCertificatesFile();
    if (!c.caCertificatesDirectory().isEmpty())
        debug << ", directory " << c.caCertificatesDirectory();
    if (!c.caCertificatesPem().isEmpty())
        debug << ", " << SecureCertificate::fromPem(c.caCertificatesPem()).size() << " in memory";
    if (!c.crlFile().isEmpty())
        debug << ", CRL file " << c.crlFile();

    debug << "; local certificate: ";
    if (!c.localCertificateChainFile().isEmpty())
        debug << "file " << c.localCertificateChainFile();
    else if (!c.localCertificateChainPem().isEmpty())
        debug << "PEM in memory (" << c.localCertificateChainPem().size() << " bytes)";
    else
        debug << "none";
    if (!c.privateKeyFile().isEmpty())
        debug << ", key file " << c.privateKeyFile();
    else if (!c.privateKeyPem().isEmpty())
        debug << ", key in memory: set";
    if (!c.privateKeyPassphraseFile().isEmpty())
        debug << ", passphrase file " << c.privateKeyPassphraseFile();
    else if (!c.privateKeyPassphrase().isEmpty())
        debug << ", passphrase: set";
    if (const auto chains = c.localCertificateChains(); !chains.isEmpty())
        debug << "; " << chains.size() << " more chains (SNI)";
    if (c.refuseUnknownServerName())
        debug << ", unknown server names refused";

    if (c.cipherList() != defaults.cipherList())
        debug << "; TLS 1.2 ciphers " << c.cipherList();
    if (c.cipherSuites() != defaults.cipherSuites())
        debug << "; TLS 1.3 suites " << c.cipherSuites();
    if (!c.alpnProtocols().isEmpty())
        debug << "; ALPN " << c.alpnProtocols();

    debug << "; session resumption " << (c.sessionResumption() ? "on" : "off");
    if (c.sessionTicketCount() != defaults.sessionTicketCount())
        debug << ", tickets per handshake " << c.sessionTicketCount();
    if (c.ticketKeyLifetime() != defaults.ticketKeyLifetime())
        debug << ", ticket key lifetime " << c.ticketKeyLifetime() << " s";
    if (!c.ticketKeyFile().isEmpty())
        debug << ", ticket key file " << c.ticketKeyFile();

    if (!c.ocspResponseFile().isEmpty())
        debug << "; OCSP response file " << c.ocspResponseFile();
    if (c.ocspStaplingRequired())
        debug << "; OCSP stapling required";
    if (!c.pinnedPublicKeys().isEmpty())
        debug << "; " << c.pinnedPublicKeys().size() << " pins, " << c.pinningMode();

    if (c.preSharedKeyAuthentication()) {
        debug << "; pre-shared keys on";
        if (!c.preSharedKeyIdentity().isEmpty())
            debug << ", identity " << c.preSharedKeyIdentity() << ", key "
                  << presence(c.preSharedKey());
        if (!c.preSharedKeys().isEmpty())
            debug << ", keys for " << c.preSharedKeys().size() << " identities";
        if (!c.preSharedKeyIdentityHint().isEmpty())
            debug << ", hint " << c.preSharedKeyIdentityHint();
    }

    debug << "; handshake timeout " << c.handshakeTimeout() << " ms";
    if (!c.keyLogFile().isEmpty())
        debug << "; KEY LOG file " << c.keyLogFile();
    return debug << ')';
}

#endif // QT_NO_DEBUG_STREAM
