// QueueBio: the BIO through which OpenSSL reads and writes ciphertext. OpenSSL reads received
// ciphertext from the engine's input queue and appends what it sends to the output queue, with
// no memory BIO (and none of its zero-filling and copies) in between. During an engine call
// given an Io, and only then, an empty input queue is refilled from that Io, with a large
// receive(). An empty input means "wait for more", never the end of the stream: feedEof()
// tells the engine, which decides.
//
// OpenSSL does not read ahead: it takes each record's header, then its body, from the queue.
// Reading ahead into OpenSSL's own buffer would save that copy but cost more than it: OpenSSL
// 3.0 moves the bytes left in its buffer to the front at the start of every record, so a
// buffer of n records moves (n - 1) / 2 records per record read, and a small buffer means
// a receive() per few records (a system call costs microseconds in a virtual machine).
#ifndef SECURESOCKET_ENGINE_QUEUEBIO_H
#define SECURESOCKET_ENGINE_QUEUEBIO_H

#include "bytequeue.h"
#include "io.h"
#include "ossl.h"

namespace securesocket::engine::detail {

class QueueBio
{
public:
    QueueBio(ByteQueue &input, ByteQueue &output) : m_input(input), m_output(output) {}
    QueueBio(const QueueBio &) = delete;
    QueueBio &operator=(const QueueBio &) = delete;

    // A new BIO over this object, for SSL_set_bio(); null when out of memory. This object must
    // outlive it (the BIO does not own it).
    BioPtr makeBio();

    // The Io of the engine call in progress, or null between calls.
    Io *io() const { return m_io; }

    // Lends an Io to the BIO for the length of one engine call: set on construction, taken
    // back on destruction, so that no Io pointer survives the call that was given it.
    class IoScope
    {
    public:
        IoScope(QueueBio &bio, Io *io) : m_bio(bio), m_previous(bio.m_io) { bio.m_io = io; }
        ~IoScope() { m_bio.m_io = m_previous; }
        IoScope(const IoScope &) = delete;
        IoScope &operator=(const IoScope &) = delete;

    private:
        QueueBio &m_bio;
        Io *m_previous;
    };

private:
    static int read(BIO *bio, char *data, size_t size, size_t *done);
    static int write(BIO *bio, const char *data, size_t size, size_t *done);
    static long control(BIO *bio, int command, long, void *);
    static const BIO_METHOD *method();
    void receive();

    ByteQueue &m_input;
    ByteQueue &m_output;
    Io *m_io = nullptr;
    bool m_lastReceiveFilled = false; // the last receive() took all the room offered
};

} // namespace securesocket::engine::detail

#endif
