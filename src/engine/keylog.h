// The key log: the secrets of a context's connections appended to a file in the NSS key log
// format (what browsers and curl write when SSLKEYLOGFILE is set, and what Wireshark reads to
// decrypt a capture). Off unless a configuration names a file or SSLKEYLOGFILE is set.
#ifndef SECURESOCKET_ENGINE_KEYLOG_H
#define SECURESOCKET_ENGINE_KEYLOG_H

#include "ossl.h"

#include <memory>
#include <string>

namespace securesocket::engine {

class KeyLog
{
public:
    // Opens path for appending, creating it with mode 0600 (an existing file keeps its mode).
    // On failure returns null and sets *error to a sentence naming the file and the cause.
    static std::unique_ptr<KeyLog> open(const std::string &path, std::string *error);
    ~KeyLog();
    KeyLog(const KeyLog &) = delete;
    KeyLog &operator=(const KeyLog &) = delete;

    // Makes every connection of ctx append its secrets here, one line each, written with one
    // append so that lines of several connections (or processes) never interleave. This object
    // must outlive ctx.
    void install(SSL_CTX *ctx);
    const std::string &path() const { return m_path; }

private:
    KeyLog(int fd, std::string path) : m_fd(fd), m_path(std::move(path)) {}
    static void callback(const SSL *ssl, const char *line);
    void append(const char *line) const;

    const int m_fd;
    const std::string m_path;
};

} // namespace securesocket::engine

#endif
