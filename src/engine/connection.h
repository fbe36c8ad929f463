// The sans-I/O TLS engine: one TLS connection over buffers of its own (a BIO of ours, see
// connection.cpp). It never touches a socket; the caller moves bytes between it and the network.
//
// Contract, in the order a caller drives it:
//   1. feed(ciphertext) with every byte received from the network (any split, any size), or
//      feedEof() when the transport has closed; then process().
//   2. read(buffer) until it returns 0 to collect plaintext.
//   3. takeOutput(buffer) until it returns 0 and send those bytes to the network.
//   4. takeEvents() to learn what happened (handshake done, alerts, close_notify, errors).
// write(plaintext) may be called at any time, before the handshake too: it is queued and
// encrypted in order once the handshake is done. shutdown() queues close_notify after all
// pending plaintext. After a fatal error every call is a no-op and error() stays set; the
// output may still hold an alert to send.
//
// Zero-copy variants of steps 1 and 3, to be mixed freely with feed() and takeOutput():
//   - inputSpace(want) returns writable space of at least want bytes (at least 1) at the end of
//     the engine's input buffer: receive from the network straight into it, then
//     commitInput(n) with the n bytes received (n <= the size returned; 0 is allowed). That is
//     feed() of those bytes without the copy; like feed(), bytes committed after feedEof() or
//     after a failure are dropped. The space is valid until the next call of any other method.
//   - outputView() returns all pending output as one contiguous block: send from it, then
//     consumeOutput(n) with the n bytes sent (n <= its size; partial is fine, the rest stays
//     first in line). The view is valid until the next call of any other method.
//   - setOutputSink(sink): at the end of each write(), process(), read(), shutdown() and
//     resolveVerification(), all pending output (what the call made, and what an earlier offer
//     left) is offered to sink as one block, from its front; sink returns how many bytes it took
//     (0 to all, e.g. a non-blocking send()) and the rest stays queued, first in line. One
//     call's records thus leave in one send(): a handshake flight, an alert, a write's records
//     (a write of more than 64 KiB is offered a 64 KiB slice at a time, as it is encrypted).
//     The sink must not call back into the engine.
//   - setInputSource(source): when the input buffer is empty, OpenSSL reads through source
//     straight into its record buffer (e.g. a non-blocking recv()), reading ahead up to 64 KiB
//     at a time; source returns how many bytes it wrote, 0 for "nothing now". This saves the
//     copy through the input buffer. process() and read() then pull input themselves (feed()
//     still works, and is read first); the caller bounds how much it reads per turn. Call
//     feedEof() only once the source has nothing more for good: after it, a source that gives
//     nothing is the end of the stream. Same rule for calling back as for the sink.
//
// Memory: while data flows the engine keeps its input and output buffers and OpenSSL's record
// buffers (about 17 KiB each way; 64 KiB for reading with an input source). When the connection is
// idle (read() finds no input left and nothing decrypted pending, or the caller has taken all
// output and no input is pending) it frees them all; they come back, sized as before, on the next
// use. read() with no new input returns 0 without calling into OpenSSL.
//
// When the peer's certificate fails verification and the mode is VerifyMode::Verify, the
// engine pauses in Phase::VerifyPending (events: VerifyFailed) before any application data
// can pass; resolveVerification(true) continues the handshake, false aborts it.
#ifndef SECURESOCKET_ENGINE_CONNECTION_H
#define SECURESOCKET_ENGINE_CONNECTION_H

#include "bytequeue.h"
#include "connectionhooks.h"
#include "context.h"
#include "errors.h"
#include "verify.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace securesocket::engine {

enum class Phase {
    Handshake,     // negotiating
    VerifyPending, // handshake paused until resolveVerification()
    Data,          // application data flows both ways
    Shutdown,      // close_notify sent or received, the other not yet
    Closed,        // close_notify sent and received: clean end
    Failed         // fatal error (see error()); includes truncation
};

struct Alert
{
    bool fatal = false;
    int description = 0; // TLS AlertDescription code
    std::string text;    // e.g. "bad certificate"
};

struct Event
{
    enum Kind {
        HandshakeDone, // handshakeInfo() is now filled
        VerifyFailed,  // verifyFailures() lists why; see resolveVerification()
        AlertSent,     // alert
        AlertReceived, // alert
        CloseNotify,   // the peer sent close_notify; no more plaintext will come
        Closed,        // both close_notify exchanged
        Failed         // error() says why
    };
    Kind kind;
    Alert alert; // for AlertSent / AlertReceived
};

struct HandshakeInfo
{
    std::string protocol; // "TLSv1.3"
    std::string
        cipher; // OpenSSL's name, e.g. "TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"
    std::string alpn;  // negotiated protocol, or empty
    std::string group; // key exchange group, e.g. "X25519", or empty
    bool resumed = false;
};

class Connection final : private ConnectionHooks
{
public:
    // A client checks the peer's certificate against peerName (DNS name or IP address), and
    // sends it as SNI when it is a DNS name. A server ignores peerName. A client with a
    // sessionKey (e.g. "host:port") resumes and stores sessions under it in the context.
    Connection(std::shared_ptr<const Context> context, std::string peerName,
               std::string sessionKey = {});
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    Role role() const { return m_context->role(); }
    const Context &context() const { return *m_context; }
    Phase phase() const { return m_phase; }
    bool isFailed() const { return m_phase == Phase::Failed; }
    const Error &error() const { return m_error; }
    const HandshakeInfo &handshakeInfo() const { return m_info; }
    const std::vector<VerifyFailure> &verifyFailures() const { return m_verifyFailures; }

    // Network side.
    void feed(const char *data, size_t size);
    void feedEof();
    size_t pendingOutput() const;
    size_t takeOutput(char *buffer, size_t capacity);
    std::string takeOutput(); // all of it
    // Zero-copy input and output (see the contract at the top).
    std::pair<char *, size_t> inputSpace(size_t want);
    void commitInput(size_t n);
    std::pair<const char *, size_t> outputView() const
    {
        return {m_output.data(), m_output.size()};
    }
    void consumeOutput(size_t n);
    using OutputSink = std::function<size_t(const char *data, size_t size)>;
    void setOutputSink(OutputSink sink) { m_sink = std::move(sink); }
    using InputSource = std::function<size_t(char *buffer, size_t capacity)>;
    void setInputSource(InputSource source);

    // Advances the handshake with what was fed. Cheap to call when there is nothing to do.
    void process();

    // Application side.
    void write(const char *data, size_t size);
    size_t pendingWrite() const { return m_pendingPlain.size(); } // not yet encrypted
    size_t read(char *buffer, size_t capacity);
    void shutdown();
    // Continues (accept) or aborts a handshake paused in Phase::VerifyPending.
    void resolveVerification(bool accept);
    // Failures with these codes are forgiven without pausing (they are still reported).
    void setAcceptedFailures(std::vector<VerifyError> codes) { m_accepted = std::move(codes); }

    // The peer's certificates as PEM, its own first, then the chain it sent.
    std::vector<std::string> peerCertificateChainPem() const;

    std::vector<Event> takeEvents();

private:
    // ConnectionHooks, called by the context's OpenSSL callbacks.
    int verifyPeer(X509_STORE_CTX *store) override;
    bool storeSession(SSL_SESSION *session) override;
    bool hadVerifyFailures() const override { return !m_verifyFailures.empty(); }
    static void infoCallback(const SSL *ssl, int where, int value);
    void onAlert(bool received, int value);

    void advanceHandshake();
    void finishHandshake();
    void writeNow(const char *data, size_t size);
    bool allAccepted() const;
    void flushPendingWrites();
    void sendCloseNotify();
    void onPeerCloseNotify();
    void fail(Error::Kind kind, std::string message);
    void failFromSsl(int sslError);
    std::string verifySummary() const;
    void pushEvent(Event::Kind kind, Alert alert = {});
    void releaseBuffersIfIdle();
    void offerOutput(bool mayRelease = true);

    std::shared_ptr<const Context> m_context;
    std::string m_peerName;
    std::string m_sessionKey;
    // Ciphertext received and not yet read by OpenSSL, and ciphertext to send. Declared before
    // m_ssl: the BIO that OpenSSL reads and writes through points at them.
    detail::ByteQueue m_input;
    detail::ByteQueue m_output;
    OutputSink m_sink;
    InputSource m_source;
    SslPtr m_ssl;
    Phase m_phase = Phase::Handshake;
    Error m_error;
    HandshakeInfo m_info;
    std::vector<VerifyFailure> m_verifyFailures;
    std::vector<VerifyError> m_accepted;
    std::vector<Event> m_events;
    std::string m_pendingPlain;
    bool m_eof = false;
    bool m_shutdownRequested = false;
    bool m_closeNotifySent = false;
    bool m_closeNotifyReceived = false;
    enum class Decision { None, Accepted, Rejected } m_decision = Decision::None;
};

} // namespace securesocket::engine

#endif
