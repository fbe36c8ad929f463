// doc/ocsp-stapling.md: a server stapling a response from a file, a client requiring one. Built
// by the suite (snippet_ocsp_stapling) and run: it only sets up the objects (no file is read, no
// connection is made).
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>

void stapleFromFile(SecureServer &server)
{
    //! [server]
    SecureConfiguration config;
    config.setLocalCertificateChainFile("server.pem");
    config.setPrivateKeyFile("server.key");
    config.setOcspResponseFile("server.ocsp.der"); // DER, as `openssl ocsp -respout` writes it
    server.setConfiguration(config);
    //! [server]
}

void requireStapling(SecureSocket &socket)
{
    //! [client]
    SecureConfiguration config;
    config.setOcspStaplingRequired(true); // default false
    socket.setConfiguration(config);
    //! [client]
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    SecureServer server;
    stapleFromFile(server);
    SecureSocket socket;
    requireStapling(socket);
    return server.configuration().ocspResponseFile() == QLatin1String("server.ocsp.der") &&
                   socket.configuration().ocspStaplingRequired()
               ? 0
               : 1;
}
