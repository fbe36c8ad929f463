// doc/server-reload.md: a server that takes renewed files at once; doc/reference-mainpage.md:
// the headers to include. Built by the suite (snippet_server_reload); run, it does not listen
// unless given an argument (it would listen on every address, port 8443).
//! [headers]
#include <SecureSocket/secureserver.h> // SecureServer
#include <SecureSocket/securesocket.h> // SecureSocket, SecureConfiguration, SecureCertificate
//! [headers]

#include <QCoreApplication>
#include <QDebug>

void listenAndReload(const SecureConfiguration &config)
{
    //! [reload]
    SecureServer server;
    server.setConfiguration(config); // certificate, key, passphrase file, CA and CRL files
    server.listen(QHostAddress::Any, 8443);
    // ... the files were renewed on disk:
    if (!server.reloadConfiguration())
        qWarning() << "renewed files refused:" << server.errorString();
    //! [reload]
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc == 3) { // CERT KEY
        SecureConfiguration config;
        config.setLocalCertificateChainFile(QString::fromLocal8Bit(argv[1]));
        config.setPrivateKeyFile(QString::fromLocal8Bit(argv[2]));
        listenAndReload(config);
    }
    return 0;
}
