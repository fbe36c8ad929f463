// ByteQueue: growth, compaction and release of the engine's ciphertext buffers.
#include "bytequeue.h"

#include <cstring>

namespace securesocket::engine::detail {

char *ByteQueue::space(size_t want)
{
    want = std::max<size_t>(want, 1);
    if (spaceSize() >= want)
        return m_storage.get() + m_end;
    const size_t held = size();
    // Move the bytes to the front only when they are fewer than the bytes consumed before
    // them (so each byte is moved at most about once), otherwise grow.
    if (m_capacity - held >= want && held <= m_begin) {
        if (held > 0)
            std::memmove(m_storage.get(), m_storage.get() + m_begin, held);
        m_begin = 0;
        m_end = held;
        return m_storage.get() + m_end;
    }
    // After release(), the size the last burst needed comes back in one allocation.
    const size_t capacity = std::max(
        {m_capacity + m_capacity / 2, held + want, m_capacity == 0 ? m_hint : 0, size_t(4096)});
    std::unique_ptr<char[]> storage(new char[capacity]);
    if (held > 0)
        std::memcpy(storage.get(), m_storage.get() + m_begin, held);
    m_storage = std::move(storage);
    m_capacity = capacity;
    m_begin = 0;
    m_end = held;
    return m_storage.get() + m_end;
}

void ByteQueue::append(const char *bytes, size_t n)
{
    if (n == 0)
        return;
    std::memcpy(space(n), bytes, n);
    m_end += n;
}

void ByteQueue::consume(size_t n)
{
    m_begin += std::min(n, size());
    if (m_begin == m_end)
        m_begin = m_end = 0;
}

void ByteQueue::release()
{
    // Remembered for the next burst, up to a size malloc still serves from its heap.
    if (m_capacity > 0)
        m_hint = std::min(m_capacity, kMaxHint);
    m_storage.reset();
    m_capacity = m_begin = m_end = 0;
}

} // namespace securesocket::engine::detail
