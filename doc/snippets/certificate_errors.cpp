// doc/certificate-errors.md: connecting to a lab device whose certificate is self-signed, three
// ways, safest last:
//   certificate_errors forgive HOST PORT CERT-FILE  forgives "self-signed" for that certificate
//                                                     only, in a certificateErrors() slot
//   certificate_errors list HOST PORT CERT-FILE     the same, said before connecting
//   certificate_errors pin HOST PORT CERT-FILE      trusts the certificate's key (a pin)
// CERT-FILE is the device's certificate, obtained once in a way you trust. Exit status 0 when
// the connection is encrypted, 1 otherwise.
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>

#include <cstdio>

//! [forgive]
// Goes on only if every failure is VerifyError::SelfSigned on the certificate whose SHA-256
// fingerprint is `expected`; any other failure, or another certificate, still aborts.
void forgiveSelfSigned(SecureSocket *socket, const QByteArray &expected)
{
    QObject::connect(socket, &SecureSocket::certificateErrors, socket,
                     [socket, expected](const QList<SecureCertificateError> &errors) {
                         for (const SecureCertificateError &error : errors) {
                             if (error.error != VerifyError::SelfSigned ||
                                 error.certificate.sha256Fingerprint() != expected)
                                 return; // not forgiven: the handshake is aborted
                         }
                         socket->ignoreCertErrors();
                     });
}
//! [forgive]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const QStringList ways{"forgive", "list", "pin"};
    if (args.size() != 5 || !ways.contains(args[1])) {
        std::fprintf(stderr, "usage: certificate_errors forgive|list|pin HOST PORT CERT-FILE\n");
        return 64;
    }
    const QList<SecureCertificate> files = SecureCertificate::fromPemFile(args[4]);
    if (files.isEmpty()) {
        std::fprintf(stderr, "certificate_errors: no certificate in %s\n", qPrintable(args[4]));
        return 64;
    }
    const SecureCertificate device = files.first();

    SecureSocket socket;
    if (args[1] == QLatin1String("forgive")) {
        forgiveSelfSigned(&socket, device.sha256Fingerprint());
    } else if (args[1] == QLatin1String("list")) {
        //! [list]
        SecureCertificateError selfSigned;
        selfSigned.error = VerifyError::SelfSigned;
        selfSigned.certificate = device; // this failure, on this certificate, and no other
        socket.ignoreCertErrors(QList<SecureCertificateError>{selfSigned});
        //! [list]
    } else {
        //! [pin]
        SecureConfiguration config;
        config.setPinnedPublicKeys({device.publicKeyPin()});             // "sha256//..."
        config.setPinningMode(SecureConfiguration::PinsAreTrustAnchors); // no CA needed
        socket.setConfiguration(config);
        //! [pin]
    }
    QObject::connect(&socket, &SecureSocket::certCheckFailed, [](int error, const QString &why) {
        std::fprintf(stderr, "%s: %s\n", verifyErrorName(static_cast<VerifyError>(error)),
                     qPrintable(why));
    });
    socket.connectToHostEncrypted(args[2], args[3].toUShort());
    if (!socket.waitForEncrypted(5000)) {
        std::fprintf(stderr, "certificate_errors: %s\n", qPrintable(socket.errorString()));
        return 1;
    }
    std::printf("encrypted with %s (%d failure(s) forgiven)\n",
                qPrintable(socket.peerCertificate().subject()),
                int(socket.peerVerifyErrors().size()));
    socket.disconnectFromHost();
    return 0;
}
