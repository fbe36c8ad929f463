// Client session blobs: export and strict import (every size checked against what is left, the
// DER parsed to its exact end).
#include "sessionblob.h"

#include <openssl/err.h>

#include <cstdint>
#include <cstring>
#include <ctime>

namespace securesocket::engine {

namespace {

constexpr char kMagic[] = {'S', 'S', 'T', 'K'};
constexpr unsigned char kVersion = 1;
constexpr size_t kMaxBinding = 0xffff;
constexpr size_t kMaxDer = 64 * 1024; // a session with a long ticket is a few KiB

void putSize(std::string &out, size_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; --i)
        out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// Reads a blob front to back; every read is checked against what is left.
class Reader
{
public:
    explicit Reader(std::string_view data) : m_data(data) {}
    bool take(size_t n, const char **out)
    {
        if (m_data.size() - m_pos < n)
            return false;
        *out = m_data.data() + m_pos;
        m_pos += n;
        return true;
    }
    bool size(int bytes, size_t *value)
    {
        const char *p = nullptr;
        if (!take(static_cast<size_t>(bytes), &p))
            return false;
        *value = 0;
        for (int i = 0; i < bytes; ++i)
            *value = (*value << 8) | static_cast<unsigned char>(p[i]);
        return true;
    }
    bool atEnd() const { return m_pos == m_data.size(); }

private:
    std::string_view m_data;
    size_t m_pos = 0;
};

struct Parsed
{
    std::string binding;
    const char *der = nullptr;
    size_t derSize = 0;
};

bool parse(std::string_view blob, Parsed *parsed)
{
    Reader reader(blob);
    const char *p = nullptr;
    size_t bindingSize = 0;
    if (!reader.take(sizeof kMagic, &p) || std::memcmp(p, kMagic, sizeof kMagic) != 0 ||
        !reader.take(1, &p) || static_cast<unsigned char>(*p) != kVersion ||
        !reader.size(2, &bindingSize) || !reader.take(bindingSize, &p))
        return false;
    parsed->binding.assign(p, bindingSize);
    if (!reader.size(4, &parsed->derSize) || parsed->derSize == 0 || parsed->derSize > kMaxDer ||
        !reader.take(parsed->derSize, &parsed->der))
        return false;
    return reader.atEnd();
}

} // namespace

std::string exportSession(SSL_SESSION *session, const std::string &binding)
{
    if (!session || binding.size() > kMaxBinding || !SSL_SESSION_is_resumable(session))
        return {};
    const int derSize = i2d_SSL_SESSION(session, nullptr);
    if (derSize <= 0 || static_cast<size_t>(derSize) > kMaxDer)
        return {};
    std::string blob(kMagic, sizeof kMagic);
    blob += static_cast<char>(kVersion);
    putSize(blob, binding.size(), 2);
    blob += binding;
    putSize(blob, static_cast<size_t>(derSize), 4);
    const size_t derStart = blob.size();
    blob.resize(derStart + static_cast<size_t>(derSize)); // reserved: no copy of the secret
    auto *out = reinterpret_cast<unsigned char *>(blob.data() + derStart);
    if (i2d_SSL_SESSION(session, &out) != derSize) {
        OPENSSL_cleanse(blob.data(), blob.size());
        return {};
    }
    return blob;
}

bool isSessionBlob(std::string_view blob)
{
    Parsed parsed;
    return parse(blob, &parsed);
}

SslSessionPtr importSession(std::string_view blob, const std::string &binding,
                            SessionImport *result)
{
    *result = SessionImport::None;
    if (blob.empty())
        return nullptr;
    *result = SessionImport::Malformed;
    Parsed parsed;
    if (!parse(blob, &parsed))
        return nullptr;
    auto p = reinterpret_cast<const unsigned char *>(parsed.der);
    const unsigned char *const end = p + parsed.derSize;
    SslSessionPtr session(d2i_SSL_SESSION(nullptr, &p, static_cast<long>(parsed.derSize)));
    ERR_clear_error(); // a DER that does not parse leaves errors that concern no connection
    if (!session || p != end || !SSL_SESSION_is_resumable(session.get()))
        return nullptr;
    if (parsed.binding != binding) {
        *result = SessionImport::OtherBinding;
        return nullptr;
    }
    // Expired: offering it would only cost the server a failed decryption.
    const time_t made = SSL_SESSION_get_time(session.get());
    const long timeout = SSL_SESSION_get_timeout(session.get());
    if (made + timeout < std::time(nullptr))
        return nullptr;
    *result = SessionImport::Used;
    return session;
}

} // namespace securesocket::engine
