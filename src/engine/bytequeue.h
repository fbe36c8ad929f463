// ByteQueue: the engine's ciphertext buffers (received and not yet read by OpenSSL; made and
// not yet sent). One contiguous block each, so that a driver can receive into it and send from
// it directly, freed when the connection is idle and grown back in one allocation.
#ifndef SECURESOCKET_ENGINE_BYTEQUEUE_H
#define SECURESOCKET_ENGINE_BYTEQUEUE_H

#include <algorithm>
#include <cstddef>
#include <memory>

namespace securesocket::engine::detail {

// Bytes in one contiguous block: appended at the end, consumed from the front. Ciphertext only
// (nothing secret): storage is freed without wiping.
class ByteQueue
{
public:
    const char *data() const { return m_storage.get() + m_begin; }
    size_t size() const { return m_end - m_begin; }
    bool empty() const { return m_begin == m_end; }
    // At least want writable bytes at data() + size(); spaceSize() says how many.
    char *space(size_t want);
    size_t spaceSize() const { return m_capacity - m_end; }
    void commit(size_t n) { m_end += std::min(n, spaceSize()); }
    void append(const char *bytes, size_t n);
    void consume(size_t n);
    // Frees the storage (the queue must be empty or its contents are dropped).
    void release();
    size_t capacity() const { return m_capacity; }

private:
    static constexpr size_t kMaxHint = 96 * 1024;
    std::unique_ptr<char[]> m_storage;
    size_t m_capacity = 0;
    size_t m_hint = 0; // the capacity before release()
    size_t m_begin = 0;
    size_t m_end = 0;
};

} // namespace securesocket::engine::detail

#endif
