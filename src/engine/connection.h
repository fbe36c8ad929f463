// The sans-I/O TLS engine: one TLS connection. It never touches a socket and never calls back
// into its caller (but for its debug trace, see trace.h). Each call that may move ciphertext is
// given the network for its own length (an Io, see io.h) or none, and says what holds
// afterwards (a Status); status() says it at any time, so a caller keeps no copy of the
// engine's state.
//
// Contract, in the order a caller drives it:
//   1. Input, in either way (both may be mixed; bytes fed are read first):
//      - pass an Io to process() and read(): when the engine's input is empty, OpenSSL receives
//        through io->receive() straight into its record buffer, reading ahead up to 64 KiB at a
//        time. The caller's receive() bounds how much it takes per turn.
//      - or feed(ciphertext) with every byte received (any split, any size), or its zero-copy
//        form: inputSpace(want) returns writable space of at least want bytes (at least 1) at
//        the end of the input, commitInput(n) then adds the n bytes received there (n <= the
//        size returned; 0 is allowed). The space is valid until the next call of any other
//        method.
//      When the transport has closed, feedEof() (with an Io: only once its receive() has nothing
//      more for good). Bytes given after feedEof() or after a failure are dropped.
//   2. process(io) advances the handshake (decrypting is read()'s job) and returns status():
//        NeedInput      nothing to do until more ciphertext arrives (in the handshake: the
//                       peer's next flight)
//        Ok             there is work for the next call (input, the end of the stream, or
//                       plaintext a full buffer left): read() once the handshake is done,
//                       process() before
//        VerifyPending  the peer's certificate (or the OCSP response it stapled) failed
//                       verification (VerifyMode::Verify, a client): verifyFailures() says
//                       why; resolveVerification(accept, io) continues (true) or aborts
//                       (false) the handshake. Nothing of our next flight is output meanwhile
//        PeerClosed, Truncated, Failed: see read()
//   3. read(buffer, capacity, io) until its status is not Data. Its size is > 0 exactly when the
//      status is Data (plaintext; several records per call if they fit). With size 0 it returns
//      status(), one of:
//        NeedInput      no plaintext until more ciphertext arrives
//        Ok             input waits that read() leaves alone: the handshake is not done, so
//                       call process() (read() never advances the handshake); or capacity
//                       was 0
//        VerifyPending  as for process()
//        PeerClosed     the peer sent close_notify (or ended the stream after our own
//                       close_notify): no more plaintext will come; a clean end
//        Truncated      the input ended without close_notify (error() says so, kind Truncated)
//        Failed         a fatal error: error() says why
//      A condition met after some plaintext is returned by the next call (status() has it at
//      once). PeerClosed, Truncated and Failed are for good.
//   4. Output. With an Io, each call of process(), read(), write(), shutdown() and
//      resolveVerification() ends by offering all pending output (what the call made, and what
//      an earlier offer left) to io->send() as one block, from its front; send() takes 0 to
//      all of it (e.g. a non-blocking send()) and the rest stays queued, first in line. One
//      call's records thus leave in one send(): a handshake flight, an alert, a write's records
//      (a write of more than 64 KiB is offered a 64 KiB slice at a time, as it is encrypted).
//      Without an Io, or for what an Io left: takeOutput(), or send from outputView() and then
//      consumeOutput(n) with the n bytes sent (the view is valid until the next call of any
//      other method). pendingOutput() says how much waits.
//   5. takeEvents() to learn what happened, for reporting: handshake done, verification
//      failed, alerts sent and received, close_notify, closed, failed.
// The engine uses an Io only during the call it is given to, never afterwards; an Io must not
// call back into the engine.
//
// write(plaintext) may be called at any time, before the handshake too: it is queued and
// encrypted in order once the handshake is done. shutdown() queues close_notify after all
// pending plaintext. After a fatal error every call is a no-op and error() stays set; the
// output may still hold an alert to send.
//
// Memory: while data flows the engine keeps its input and output buffers and OpenSSL's record
// buffers (about 17 KiB each way; 64 KiB for reading while calls are given an Io). When the
// connection is idle (read() finds no input left and nothing decrypted pending, or the caller
// has taken all output and no input is pending) it frees them all, or with deferral on (see
// setReleaseDeferred()) when the driver says so; they come back, sized as before, on the next
// use. read() without an Io and with no new input returns NeedInput without
// calling into OpenSSL.
#ifndef SECURESOCKET_ENGINE_CONNECTION_H
#define SECURESOCKET_ENGINE_CONNECTION_H

#include "bytequeue.h"
#include "connectionhooks.h"
#include "context.h"
#include "errors.h"
#include "io.h"
#include "ocsp.h"
#include "queuebio.h"
#include "sessionblob.h"
#include "trace.h"
#include "verify.h"

#include <cstddef>
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
    Closed,        // close_notify sent and received (or the stream ended after ours): clean end
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
        Failed,        // error() says why
        SessionStored  // a client got a session it may resume (see exportSession()); after
                       // HandshakeDone
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
    std::string pskIdentity; // the pre-shared key's identity, when one authenticated the peer
};

class Connection final : private ConnectionHooks
{
public:
    // A client checks the peer's certificate against peerName (DNS name or IP address), and
    // sends it as SNI when it is a DNS name. A server ignores peerName. A client with a
    // sessionKey (e.g. "host:port") resumes and stores sessions in the context under that key
    // together with peerName: OpenSSL does not check the name again on resumption, so a
    // session verified for one name is never offered for another.
    // When the context uses pre-shared keys, psk (if given) is asked for the keys the context
    // does not hold, or to change them (see psk.h); it may be called during any call that
    // advances the handshake, this constructor included (a client's ClientHello).
    //
    // importedSession, a client's blob of exportSession() (kept by the application across a
    // restart), is offered instead of the context's session when it was made for the same
    // sessionKey, peerName and settings (see sessionImport()).
    Connection(std::shared_ptr<const Context> context, std::string peerName,
               std::string sessionKey = {}, PskProvider psk = {},
               const std::string &importedSession = {});
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    Role role() const { return m_context->role(); }
    const Context &context() const { return *m_context; }
    Phase phase() const { return m_phase; }
    // The standing condition, as process() would return it now (never Data).
    Status status() const;
    bool isFailed() const { return m_phase == Phase::Failed; }
    const Error &error() const { return m_error; }
    // close_notify was made (it is in the output, or was offered to an Io) / was received.
    bool closeNotifySent() const { return m_closeNotifySent; }
    bool closeNotifyReceived() const { return m_closeNotifyReceived; }
    const HandshakeInfo &handshakeInfo() const { return m_info; }
    const std::vector<VerifyFailure> &verifyFailures() const { return m_verifyFailures; }

    // Network side, for callers that move the bytes themselves (see the contract at the top).
    void feed(const char *data, size_t size);
    void feedEof();
    std::pair<char *, size_t> inputSpace(size_t want);
    void commitInput(size_t n);
    size_t pendingOutput() const { return m_output.size(); }
    size_t takeOutput(char *buffer, size_t capacity);
    std::string takeOutput(); // all of it
    std::pair<const char *, size_t> outputView() const
    {
        return {m_output.data(), m_output.size()};
    }
    void consumeOutput(size_t n);

    // Advances the handshake with what was received. Cheap to call when there is nothing to do.
    Status process(Io *io = nullptr);

    // Application side.
    void write(const char *data, size_t size, Io *io = nullptr);
    size_t pendingWrite() const { return m_pendingPlain.size(); } // not yet encrypted
    [[nodiscard]] ReadResult read(char *buffer, size_t capacity, Io *io = nullptr);
    void shutdown(Io *io = nullptr);
    // Continues (accept) or aborts a handshake paused in Phase::VerifyPending.
    void resolveVerification(bool accept, Io *io = nullptr);
    // Failures with these codes are forgiven without pausing (they are still reported).
    void setAcceptedFailures(std::vector<VerifyError> codes) { m_accepted = std::move(codes); }

    // Client: what the server stapled (OCSP), once its certificate was received; the DER
    // response, or empty.
    OcspStatus ocspStatus() const { return m_ocsp.status; }
    const std::string &ocspResponse() const { return m_ocsp.der; }

    // The peer's certificates as PEM, its own first, then the chain it sent; after a failed
    // verification, the chain that failed.
    std::vector<std::string> peerCertificateChainPem() const;
    // Our own certificate as PEM: after the handshake, the one we sent (a server with several
    // chains sends the one that matched the client's server_name); empty if none.
    std::string localCertificatePem() const;
    // Server: the server_name (SNI) the client asked for, once its hello was read; empty if none.
    std::string requestedServerName() const;

    // Session export
    // Client: the newest session this connection got that may be resumed (see
    // SessionStored) as a blob for a later Connection's importedSession, bound to this
    // connection's session key, peer name and settings; empty when there is none, and always
    // for a connection whose verification had failures (forgiven or not). The blob holds the
    // resumption secret.
    std::string exportSession() const;
    // What became of the importedSession given to the constructor.
    SessionImport sessionImport() const { return m_sessionImport; }

    std::vector<Event> takeEvents();

    // Buffers of a connection. By default the record buffers and the queues' storage are freed
    // whenever the connection goes idle. With deferral on, they are kept and idleBuffersHeld()
    // says so; the driver calls releaseIdleBuffers() once the connection has been quiet for a
    // while. Freeing and allocating them at every idle moment costs more than they weigh: a
    // handshake goes idle three or four times, a bulk transfer once per write, and each time
    // malloc may give the memory back to the kernel and take it again.
    void setReleaseDeferred(bool on) { m_releaseDeferred = on; }
    bool idleBuffersHeld() const { return m_idleBuffersHeld; }
    void releaseIdleBuffers();

private:
    // One public call given io: lends it to the BIO for the call's length.
    // Traces the records and bytes the call moved, if any (see trace.h).
    class IoCall
    {
    public:
        IoCall(Connection &connection, Io *io);
        ~IoCall();
        IoCall(const IoCall &) = delete;
        IoCall &operator=(const IoCall &) = delete;

    private:
        Connection &m_connection;
        detail::QueueBio::IoScope m_scope;
    };

    // ConnectionHooks, called by the context's OpenSSL callbacks.
    int verifyPeer(X509_STORE_CTX *store) override;
    bool storeSession(SSL_SESSION *session) override;
    bool hadVerifyFailures() const override { return !m_verifyFailures.empty(); }
    unsigned int clientPsk(const char *hint, char *identity, unsigned int maxIdentity,
                           unsigned char *psk, unsigned int maxPsk) override;
    unsigned int serverPsk(const char *identity, unsigned char *psk, unsigned int maxPsk) override;
    int checkStapledOcsp() override;
    void holdFlightForOcsp(bool handshakeDone);
    void resolveHeldFlight(bool accept);
    void refuseServerName(const std::string &name) override;
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
    std::string peer() const; // "server" or "client"
    std::string verifySummary() const;
    std::string pskExplanation() const;
    std::vector<VerifyFailure> verifyPinnedChain(X509_STORE_CTX *store);
    void pushEvent(Event::Kind kind, Alert alert = {});
    void releaseBuffersIfIdle(bool evenIfDeferred = false);
    // Tracing (connectiontrace.cpp); every caller tests tracing() first, so that nothing is
    // formatted without a sink.
    bool tracing() const { return m_trace != nullptr; }
    void trace(const std::string &line) const;
    void traceState(int where);
    void traceTraffic();
    void traceStart();
    void traceVerification(X509 *leaf);
    void traceHandshakeDone();
    static void recordCallback(int writing, int version, int contentType, const void *data,
                               size_t size, SSL *ssl, void *);
    std::string sessionBinding() const; // settings id, then m_sessionKey
    void keepResumedSession();
    void offerOutput(bool mayRelease = true);

    std::shared_ptr<const Context> m_context;
    TraceSink m_trace = traceSink(); // the sink when the connection was made, or null
    // Records (and their bytes, headers included) received and sent, counted while tracing;
    // and the counts last traced.
    struct Traffic
    {
        size_t recordsIn = 0, bytesIn = 0, recordsOut = 0, bytesOut = 0;
        bool operator!=(const Traffic &o) const
        {
            return recordsIn != o.recordsIn || recordsOut != o.recordsOut;
        }
    };
    Traffic m_traffic;
    Traffic m_tracedTraffic;
    std::string m_peerName;
    std::string m_sessionKey;
    PskProvider m_pskProvider;
    std::string m_pskIdentity;     // the identity of the key given to OpenSSL, if any
    std::string m_pskRefused;      // a server's: a client's identity it had no key for
    SslSessionPtr m_latestSession; // the newest one stored, for exportSession()
    SessionImport m_sessionImport = SessionImport::None;
    bool m_sessionEventDue = false; // a session came before HandshakeDone was reported
    // Ciphertext received and not yet read by OpenSSL, and ciphertext to send, and the BIO
    // state over them. Declared before m_ssl, whose BIO points at them.
    detail::ByteQueue m_input;
    detail::ByteQueue m_output;
    detail::QueueBio m_bio{m_input, m_output};
    SslPtr m_ssl;
    Phase m_phase = Phase::Handshake;
    Error m_error;
    HandshakeInfo m_info;
    std::vector<VerifyFailure> m_verifyFailures;
    std::vector<std::string> m_rejectedChainPem; // what verification saw, once it failed
    X509StackPtr m_pinnedAnchors; // pins only: the peer's certificates trusted for their key
    std::vector<VerifyError> m_accepted;
    std::string m_refusedServerName; // SNI: the name no certificate has, when refused
    std::vector<Event> m_events;
    std::string m_pendingPlain;
    bool m_eof = false;
    // OpenSSL's last read stopped for want of input, and none has come since: NeedInput.
    bool m_inputWanted = true;
    bool m_releaseDeferred = false;
    bool m_idleBuffersHeld = false;
    bool m_shutdownRequested = false;
    bool m_closeNotifySent = false;
    bool m_closeNotifyReceived = false;
    enum class Decision { None, Accepted, Rejected } m_decision = Decision::None;
    // OCSP (client). A failure of the stapled response comes after the certificate check, when
    // OpenSSL can no longer pause: it writes our next flight, which is held back (never sent)
    // until the application decides, as for a failure of the chain.
    OcspCheck m_ocsp;
    bool m_ocspUndecided = false;     // set by the status callback, for advanceHandshake()
    size_t m_flightStart = 0;         // where our next flight starts in m_output
    std::string m_heldFlight;         // our flight, while the decision is pending
    bool m_holdingFlight = false;     // Phase::VerifyPending is about m_ocsp
    bool m_heldHandshakeDone = false; // OpenSSL finished the handshake with that flight
};

} // namespace securesocket::engine

#endif
