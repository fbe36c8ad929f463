// QueueBio: OpenSSL's BIO method over the engine's queues and the Io of the call in progress.
#include "queuebio.h"

#include <cstring>

namespace securesocket::engine::detail {

namespace {

// What an empty input queue offers receive(): kMinReceive, doubled up to kMaxReceive while
// each receive() fills all the room (a bulk stream), until the queue's storage is freed when
// the connection goes idle. In bulk the kernel holds hundreds of KiB, and each receive() of
// it is one system call for the kernel's whole queue instead of one per few records.
constexpr size_t kMinReceive = 64 * 1024;
constexpr size_t kMaxReceive = 1024 * 1024;

int create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

QueueBio *queueOf(BIO *bio)
{
    return static_cast<QueueBio *>(BIO_get_data(bio));
}

} // namespace

BioPtr QueueBio::makeBio()
{
    const BIO_METHOD *bioMethod = method();
    BioPtr bio(bioMethod ? BIO_new(bioMethod) : nullptr);
    if (bio)
        BIO_set_data(bio.get(), this);
    return bio;
}

int QueueBio::read(BIO *bio, char *data, size_t size, size_t *done)
{
    BIO_clear_retry_flags(bio);
    QueueBio *queue = queueOf(bio);
    *done = 0;
    if (queue && queue->m_input.empty() && queue->m_io)
        queue->receive();
    if (queue && !queue->m_input.empty()) {
        *done = std::min(size, queue->m_input.size());
        std::memcpy(data, queue->m_input.data(), *done);
        queue->m_input.consume(*done);
    }
    if (*done == 0) {
        BIO_set_retry_read(bio);
        return 0;
    }
    return 1;
}

void QueueBio::receive()
{
    size_t want = std::clamp(m_input.capacity(), kMinReceive, kMaxReceive);
    if (m_lastReceiveFilled && m_input.capacity() > 0)
        want = std::min(2 * want, kMaxReceive);
    char *space = m_input.space(want);
    const size_t room = std::min(want, m_input.spaceSize());
    const size_t got = std::min(m_io->receive(space, room), room);
    m_input.commit(got);
    m_lastReceiveFilled = got == room;
}

int QueueBio::write(BIO *bio, const char *data, size_t size, size_t *done)
{
    BIO_clear_retry_flags(bio);
    QueueBio *queue = queueOf(bio);
    *done = 0;
    if (!queue)
        return 0;
    // Everything is taken (the queue grows): SSL_write_ex never stops half way. With an Io the
    // caller's send() takes it at the end of the engine call.
    queue->m_output.append(data, size);
    *done = size;
    return 1;
}

long QueueBio::control(BIO *bio, int command, long, void *)
{
    const QueueBio *queue = queueOf(bio);
    switch (command) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return queue ? static_cast<long>(queue->m_input.size()) : 0;
    case BIO_CTRL_WPENDING:
        return queue ? static_cast<long>(queue->m_output.size()) : 0;
    default:
        return 0; // no EOF, no kTLS, no descriptor
    }
}

// Made once per process, never changed.
const BIO_METHOD *QueueBio::method()
{
    static const BioMethodPtr made = [] {
        BioMethodPtr m(
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "securesocket engine queues"));
        if (m && (BIO_meth_set_create(m.get(), create) != 1 ||
                  BIO_meth_set_read_ex(m.get(), read) != 1 ||
                  BIO_meth_set_write_ex(m.get(), write) != 1 ||
                  BIO_meth_set_ctrl(m.get(), control) != 1))
            m.reset();
        return m;
    }();
    return made.get();
}

} // namespace securesocket::engine::detail
