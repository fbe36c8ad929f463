#include "pkidirectory.h"

#include <QDir>
#include <QFile>

#include <stdexcept>

namespace testpki {

PkiDirectory::PkiDirectory() : m_temporary(std::make_unique<QTemporaryDir>())
{
    if (m_temporary->isValid())
        m_path = m_temporary->path();
}

PkiDirectory::PkiDirectory(const QString &dir) : m_path(dir) {}

QString PkiDirectory::filePath(const QString &name) const
{
    return QDir(m_path).filePath(name);
}

QString PkiDirectory::write(const QString &name, const std::string &content) const
{
    if (!isValid())
        throw std::runtime_error("testpki: no directory to write " + name.toStdString() + " to");
    const QString file = filePath(name);
    writeFile(QFile::encodeName(file).toStdString(), content);
    return file;
}

QString PkiDirectory::issue(const QString &name, const CertSpec &spec, const Issued *issuer,
                            Issued *issued, const std::string &chain) const
{
    const Issued made = makeCertificate(spec, issuer);
    write(name + QStringLiteral(".key"), made.keyPem);
    const QString certFile = write(name + QStringLiteral(".pem"), made.certPem + chain);
    if (issued)
        *issued = made;
    return certFile;
}

QString PkiDirectory::keyFileOf(const QString &certFile)
{
    QString key = certFile;
    if (key.endsWith(QLatin1String(".pem")))
        key.chop(4);
    return key + QStringLiteral(".key");
}

} // namespace testpki
