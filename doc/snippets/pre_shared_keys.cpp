// doc/pre-shared-keys.md: TLS-PSK on a client, on a server, and keys found by a slot. Built by the
// suite (snippet_pre_shared_keys) and run without arguments: it then only sets up the objects
// (no connection, nothing listens).
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QMap>

void connectWithKey(SecureSocket &socket)
{
    //! [client]
    SecureConfiguration config;
    config.setPreSharedKey("sensor-17", QByteArray::fromHex("00112233..."));
    socket.setConfiguration(config);
    socket.connectToHostEncrypted("gateway.local", 8883);
    // after encrypted(): socket.preSharedKeyIdentity() == "sensor-17", peerCertificate() is null
    //! [client]
}

void serveKeys(SecureServer &server, const QByteArray &key17, const QByteArray &key18)
{
    //! [server]
    SecureConfiguration config;
    config.setPreSharedKeys({{"sensor-17", key17}, {"sensor-18", key18}});
    // optional: a certificate too, for clients without a key
    server.setConfiguration(config);
    server.listen(QHostAddress::Any, 8883);
    //! [server]
}

// Where the application keeps its keys: here, a table in memory.
struct KeyStore
{
    QByteArray lookup(const QByteArray &identity) const { return keys.value(identity); }
    QMap<QByteArray, QByteArray> keys;
};
KeyStore keyStore;
const QByteArray key = QByteArray::fromHex("00112233445566778899aabbccddeeff");

class Gateway : public QObject
{
public:
    void answerWithSlots(SecureServer &server, SecureSocket &socket)
    {
        //! [slots]
        connect(&server, &SecureServer::preSharedKeyAuthenticationRequired, this,
                [](SecureSocket *, SecurePreSharedKeyAuthenticator *a) {
                    a->setPreSharedKey(keyStore.lookup(a->identity())); // empty: refused
                });
        connect(&socket, &SecureSocket::preSharedKeyAuthenticationRequired, this,
                [](SecurePreSharedKeyAuthenticator *a) {
                    // a->identityHint(): what the server sent (TLS 1.2 only)
                    a->setIdentity("sensor-17");
                    a->setPreSharedKey(key);
                });
        //! [slots]
    }
};

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    SecureServer server;
    SecureSocket socket;
    Gateway gateway;
    gateway.answerWithSlots(server, socket);
    if (argc > 1) { // the guide's client and server, on the guide's names and port
        connectWithKey(socket);
        serveKeys(server, key, key);
    }
    return 0;
}
