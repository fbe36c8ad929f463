// The directory a test's PKI is written to, and the one place that issues a certificate into
// files. Certificates themselves come from testpki (testpki.h); the role-specific sets of the
// suites (enginetest::StandardPki, the socket tests' TestPki, servertest::Pki, the interop and
// imap sets) are built on this.
#ifndef SECURESOCKET_TESTS_PKIDIRECTORY_H
#define SECURESOCKET_TESTS_PKIDIRECTORY_H

#include "testpki.h"

#include <QString>
#include <QTemporaryDir>

#include <memory>
#include <string>

namespace testpki {

class PkiDirectory
{
public:
    PkiDirectory();                            // a new temporary directory, removed with this
    explicit PkiDirectory(const QString &dir); // an existing directory, left in place

    bool isValid() const { return !m_path.isEmpty(); }
    QString path() const { return m_path; }
    QString filePath(const QString &name) const;

    // Writes content to name in the directory (creating or truncating it) and returns its path.
    // Throws std::runtime_error.
    QString write(const QString &name, const std::string &content) const;

    // Makes a key and certificate for spec, signed by issuer (self-signed when null), and writes
    // the certificate, followed by chain (intermediates, PEM), to "<name>.pem" and the key to
    // "<name>.key". Returns the certificate file's path (the key's is keyFileOf() of it); the
    // certificate and key themselves go to *issued when given. Throws std::runtime_error.
    QString issue(const QString &name, const CertSpec &spec, const Issued *issuer,
                  Issued *issued = nullptr, const std::string &chain = {}) const;
    // "<dir>/name.key" for "<dir>/name.pem".
    static QString keyFileOf(const QString &certFile);

private:
    std::unique_ptr<QTemporaryDir> m_temporary;
    QString m_path;
};

} // namespace testpki

#endif
