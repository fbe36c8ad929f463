// KeyLog: appends NSS key log lines to a file, each with one write(2) on an O_APPEND descriptor.
#include "keylog.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace securesocket::engine {

namespace {

// The SSL_CTX's slot for its key log, made once per process.
int keyLogIndex()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

std::unique_ptr<KeyLog> KeyLog::open(const std::string &path, std::string *error)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        if (error)
            *error = "cannot open key log file '" + path + "': " + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<KeyLog>(new KeyLog(fd, path));
}

KeyLog::~KeyLog()
{
    ::close(m_fd);
}

void KeyLog::install(SSL_CTX *ctx)
{
    SSL_CTX_set_ex_data(ctx, keyLogIndex(), this);
    SSL_CTX_set_keylog_callback(ctx, callback);
}

void KeyLog::callback(const SSL *ssl, const char *line)
{
    const auto *log =
        static_cast<const KeyLog *>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keyLogIndex()));
    if (log && line)
        log->append(line);
}

void KeyLog::append(const char *line) const
{
    std::string text(line);
    text += '\n';
    // One write for the whole line: O_APPEND keeps it in one piece among other writers. A short
    // write (a full disk) loses the rest of the line, never a connection.
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(m_fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += static_cast<size_t>(n);
    }
    OPENSSL_cleanse(text.data(), text.size()); // the line holds a secret
}

} // namespace securesocket::engine
