// doc/key-log.md: a key log for the connections made with one configuration. Built by the suite
// (snippet_key_log) and run: it only makes the configuration (no connection, no file written).
#include <SecureSocket/secureconfiguration.h>

SecureConfiguration keyLogConfiguration()
{
    //! [config]
    SecureConfiguration config;
    config.setKeyLogFile(QStringLiteral("/tmp/tls-keys.log"));
    //! [config]
    return config;
}

int main()
{
    return keyLogConfiguration().keyLogFile() == QLatin1String("/tmp/tls-keys.log") ? 0 : 1;
}
