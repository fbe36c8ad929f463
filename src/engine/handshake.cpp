// Connection's handshake: advancing it, the pause on certificate failures and its
// resolution, the session kept for resumption, and what is learned when it ends.
#include "connection.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace securesocket::engine {

void Connection::advanceHandshake()
{
    OsslErrorScope errors;
    const int result = SSL_do_handshake(m_ssl.get());
    if (m_ocspUndecided) {
        m_ocspUndecided = false;
        const int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(m_ssl.get(), result);
        if (error == SSL_ERROR_NONE || error == SSL_ERROR_WANT_READ) {
            holdFlightForOcsp(result == 1);
            return;
        }
    }
    if (result == 1) {
        m_inputWanted = false; // what came with the last flight is read()'s
        finishHandshake();
        return;
    }
    const int error = SSL_get_error(m_ssl.get(), result);
    if (error == SSL_ERROR_WANT_RETRY_VERIFY) {
        m_phase = Phase::VerifyPending;
        pushEvent(Event::VerifyFailed);
    } else if (error == SSL_ERROR_WANT_READ) {
        m_inputWanted = true;
        if (m_eof)
            fail(Error::Truncated,
                 "the connection closed during the TLS handshake (the " + peer() + " hung up)");
    } else if (error == SSL_ERROR_ZERO_RETURN) {
        fail(Error::AlertReceived, "the " + peer() +
                                       " closed the connection (close_notify) during the TLS "
                                       "handshake");
    } else {
        failFromSsl(error);
    }
}

int Connection::verifyPeer(X509_STORE_CTX *store)
{
    const VerifyMode mode = m_context->verifyMode();
    if (mode == VerifyMode::None || m_decision == Decision::Accepted)
        return 1;
    if (m_decision == Decision::Rejected) {
        X509_STORE_CTX_set_error(store, m_verifyFailures.empty()
                                            ? X509_V_ERR_APPLICATION_VERIFICATION
                                            : m_verifyFailures.front().opensslCode);
        return 0;
    }
    m_verifyFailures = m_context->pins().empty()
                           ? verifyChain(store, m_peerName, role() == Role::Client)
                           : verifyPinnedChain(store);
    if (tracing())
        traceVerification(X509_STORE_CTX_get0_cert(store));
    if (m_verifyFailures.empty())
        return 1;
    // OpenSSL keeps the peer's certificates only if the handshake goes on: a rejected chain is
    // kept here, so that the application can still see what it rejected.
    m_rejectedChainPem.clear();
    if (X509 *leaf = X509_STORE_CTX_get0_cert(store))
        m_rejectedChainPem.push_back(certificatePem(leaf));
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(store);
    for (int i = 0; sent && i < sk_X509_num(sent); ++i) {
        X509 *cert = sk_X509_value(sent, i);
        if (X509_cmp(cert, X509_STORE_CTX_get0_cert(store)) != 0)
            m_rejectedChainPem.push_back(certificatePem(cert));
    }
    if (role() == Role::Server) {
        // A resumed session would skip verification and forget these failures: none is made.
        SSL_set_num_tickets(m_ssl.get(), 0);
        SSL_set_options(m_ssl.get(), SSL_OP_NO_TICKET);
    }
    if (mode == VerifyMode::Query || allAccepted()) {
        pushEvent(Event::VerifyFailed);
        return 1;
    }
    if (role() == Role::Client) {
        // Pause before our Finished: the application decides, the server has seen nothing.
        return SSL_set_retry_verify(m_ssl.get());
    }
    // A server cannot pause here: refuse now, with the alert that matches the first failure.
    pushEvent(Event::VerifyFailed);
    m_decision = Decision::Rejected;
    X509_STORE_CTX_set_error(store, m_verifyFailures.front().opensslCode);
    return 0;
}

// Verification with public-key pins. Pins only: the peer's certificates whose keys are pinned
// are the trust anchors (the chain must still lead from its certificate to one of them, with
// valid signatures, dates, purpose and name); none pinned is one failure. Pins on top: normal
// verification, then the chain built must hold a pinned key.
std::vector<VerifyFailure> Connection::verifyPinnedChain(X509_STORE_CTX *store)
{
    const std::vector<std::string> &pins = m_context->pins();
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    const auto mismatch = [&](const STACK_OF(X509) * found) {
        VerifyFailure failure;
        failure.code = VerifyError::PinMismatch;
        failure.opensslCode = X509_V_ERR_APPLICATION_VERIFICATION;
        failure.subject = leaf ? nameToString(X509_get_subject_name(leaf)) : std::string();
        failure.certificatePem = leaf ? certificatePem(leaf) : std::string();
        std::string expected;
        for (const std::string &pin : pins)
            expected += (expected.empty() ? "" : ", ") + pin;
        failure.message = "public key pin mismatch: no certificate of the " + peer() +
                          "'s chain for '" + failure.subject +
                          "' has a pinned public key; expected one of " + expected + "; found " +
                          describePins(found);
        return failure;
    };
    if (!m_context->pinsOnly()) {
        std::vector<VerifyFailure> failures =
            verifyChain(store, m_peerName, role() == Role::Client);
        const STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(store);
        if (sk_X509_num(pinnedCertificates(chain, pins).get()) == 0)
            failures.push_back(mismatch(chain));
        return failures;
    }
    // The certificates the peer sent, its own first.
    X509StackPtr sent(sk_X509_new_null());
    if (!sent)
        return {mismatch(nullptr)};
    const auto keep = [&sent](X509 *cert) {
        if (X509_up_ref(cert) == 1 && sk_X509_push(sent.get(), cert) <= 0)
            X509_free(cert);
    };
    if (leaf)
        keep(leaf);
    STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(store);
    for (int i = 0; untrusted && i < sk_X509_num(untrusted); ++i) {
        if (X509 *cert = sk_X509_value(untrusted, i); !leaf || X509_cmp(cert, leaf) != 0)
            keep(cert);
    }
    m_pinnedAnchors = pinnedCertificates(sent.get(), pins);
    if (sk_X509_num(m_pinnedAnchors.get()) <= 0)
        return {mismatch(sent.get())};
    // Kept by the connection: OpenSSL reads the anchors until its verification is over.
    X509_STORE_CTX_set0_trusted_stack(store, m_pinnedAnchors.get());
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(store), X509_V_FLAG_PARTIAL_CHAIN);
    return verifyChain(store, m_peerName, role() == Role::Client);
}

bool Connection::allAccepted() const
{
    return std::all_of(m_verifyFailures.begin(), m_verifyFailures.end(),
                       [this](const VerifyFailure &failure) {
                           return std::find(m_accepted.begin(), m_accepted.end(), failure.code) !=
                                  m_accepted.end();
                       });
}

void Connection::resolveVerification(bool accept, Io *io)
{
    const IoCall call(*this, io);
    if (tracing() && m_phase == Phase::VerifyPending)
        trace(accept ? "certificate failures forgiven by the application: handshake goes on"
                     : "certificate failures not forgiven: handshake aborted");
    if (m_phase == Phase::VerifyPending && m_holdingFlight) {
        resolveHeldFlight(accept);
    } else if (m_phase == Phase::VerifyPending) {
        m_decision = accept ? Decision::Accepted : Decision::Rejected;
        m_phase = Phase::Handshake;
        advanceHandshake();
    }
    offerOutput();
}

int Connection::checkStapledOcsp()
{
    // A resumed session's certificate and response were checked when it was made (and a
    // session with failures is never kept).
    if (m_context->verifyMode() == VerifyMode::None || SSL_session_reused(m_ssl.get()) == 1)
        return 1;
    m_ocsp = checkStapledResponse(m_ssl.get(), m_context->requiresOcsp());
    if (tracing())
        trace(m_ocsp.failure       ? "stapled OCSP response: " + m_ocsp.failure->message
              : m_ocsp.der.empty() ? std::string("no OCSP response stapled")
                                   : "stapled OCSP response checked (" +
                                         std::to_string(m_ocsp.der.size()) + " bytes): no failure");
    if (!m_ocsp.failure)
        return 1;
    m_verifyFailures.push_back(*m_ocsp.failure);
    const bool accepted =
        std::find(m_accepted.begin(), m_accepted.end(), m_ocsp.failure->code) != m_accepted.end();
    if (m_context->verifyMode() == VerifyMode::Query || accepted) {
        pushEvent(Event::VerifyFailed);
        return 1;
    }
    // OpenSSL cannot pause here: it goes on and writes our next flight (TLS 1.2: key exchange
    // and Finished; TLS 1.3: Finished), which advanceHandshake() then holds back.
    m_ocspUndecided = true;
    m_flightStart = m_output.size();
    return 1;
}

void Connection::holdFlightForOcsp(bool handshakeDone)
{
    const size_t start = std::min(m_flightStart, m_output.size());
    std::string all(m_output.data(), m_output.size());
    m_output.consume(all.size());
    m_output.append(all.data(), start); // what was there before stays first in line
    m_heldFlight = all.substr(start);
    m_holdingFlight = true;
    m_heldHandshakeDone = handshakeDone;
    m_inputWanted = false;
    m_phase = Phase::VerifyPending;
    pushEvent(Event::VerifyFailed);
}

void Connection::resolveHeldFlight(bool accept)
{
    m_holdingFlight = false;
    std::string flight;
    flight.swap(m_heldFlight);
    m_phase = Phase::Handshake;
    if (accept) {
        m_output.append(flight.data(), flight.size());
        if (m_heldHandshakeDone)
            finishHandshake();
        else
            advanceHandshake();
        return;
    }
    // The server has seen nothing since its own flight; our flight is dropped and a fatal
    // alert goes in its place, in a plaintext record, which the server still reads at this
    // point (TLS 1.2: before our ChangeCipherSpec; TLS 1.3: before our first encrypted record).
    const int description = m_ocsp.failure && m_ocsp.failure->code == VerifyError::OcspRevoked
                                ? SSL_AD_CERTIFICATE_REVOKED
                                : SSL_AD_BAD_CERTIFICATE_STATUS_RESPONSE;
    const char alert[] = {SSL3_RT_ALERT, 3, 3, 0, 2, SSL3_AL_FATAL, static_cast<char>(description)};
    m_output.append(alert, sizeof alert);
    onAlert(false, (SSL3_AL_FATAL << 8) | description);
    fail(Error::Certificate,
         m_ocsp.failure ? m_ocsp.failure->message : std::string("OCSP response refused"));
}

void Connection::finishHandshake()
{
    SSL *ssl = m_ssl.get();
    m_phase = Phase::Data;
    m_info.protocol = SSL_get_version(ssl);
    m_info.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    const unsigned char *alpn = nullptr;
    unsigned int alpnSize = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpnSize);
    m_info.alpn.assign(reinterpret_cast<const char *>(alpn), alpn ? alpnSize : 0);
    const char *group = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
    m_info.group = group ? group : "";
    // A pre-shared key authenticated the peer: a TLS 1.2 PSK suite, or a TLS 1.3 handshake
    // that OpenSSL counts as resumed (an external PSK is used as a session would be) after
    // our PSK callback gave a key. Clients that use pre-shared keys keep no sessions.
    const bool reused = SSL_session_reused(ssl) == 1;
    const bool pskSuite = SSL_CIPHER_get_auth_nid(SSL_get_current_cipher(ssl)) == NID_auth_psk;
    if (!m_pskIdentity.empty() && (pskSuite || (reused && SSL_version(ssl) >= TLS1_3_VERSION)))
        m_info.pskIdentity = m_pskIdentity;
    m_info.resumed = reused && m_info.pskIdentity.empty();
    if (role() == Role::Server && !m_verifyFailures.empty())
        SSL_CTX_remove_session(m_context->native(), SSL_get0_session(ssl));
    if (tracing())
        traceHandshakeDone();
    pushEvent(Event::HandshakeDone);
    if (std::exchange(m_sessionEventDue, false))
        pushEvent(Event::SessionStored);
    if (role() == Role::Client && m_info.resumed && SSL_version(ssl) < TLS1_3_VERSION)
        keepResumedSession();
    flushPendingWrites();
    if (m_shutdownRequested && !isFailed())
        sendCloseNotify();
}

bool Connection::storeSession(SSL_SESSION *session)
{
    // A session whose verification had failures (even forgiven ones) is never reused: a
    // resumed handshake would skip the checks.
    if (m_sessionKey.empty() || !m_verifyFailures.empty() || !m_context->resumesSessions())
        return false;
    if (SSL_SESSION_up_ref(session) == 1)
        m_latestSession.reset(session);
    m_context->storeSession(m_sessionKey, session);
    if (tracing())
        trace("session from the server kept for resumption");
    if (m_phase == Phase::Handshake || m_phase == Phase::VerifyPending)
        m_sessionEventDue = true; // TLS 1.2: reported after HandshakeDone
    else
        pushEvent(Event::SessionStored);
    return true;
}

unsigned int Connection::clientPsk(const char *hint, char *identity, unsigned int maxIdentity,
                                   unsigned char *psk, unsigned int maxPsk)
{
    PskRequest request;
    request.identityHint = hint ? hint : "";
    request.identity = m_context->pskIdentity();
    request.key = m_context->pskKey();
    request.maxIdentity = maxIdentity > 0 ? maxIdentity - 1 : 0; // room for the NUL
    request.maxKey = maxPsk;
    if (m_pskProvider)
        m_pskProvider(request);
    const std::string &key = request.key.value();
    if (request.identity.empty() || request.identity.size() > request.maxIdentity || key.empty() ||
        key.size() > maxPsk) {
        if (tracing())
            trace("pre-shared key: none offered (no identity or key, or one too long)");
        return 0;
    }
    if (tracing())
        trace("pre-shared key: offering the identity '" + request.identity + "' (key of " +
              std::to_string(key.size()) + " bytes)");
    std::memcpy(identity, request.identity.c_str(), request.identity.size() + 1);
    std::memcpy(psk, key.data(), key.size());
    m_pskIdentity = request.identity;
    return static_cast<unsigned int>(key.size());
}

unsigned int Connection::serverPsk(const char *identity, unsigned char *psk, unsigned int maxPsk)
{
    PskRequest request;
    request.server = true;
    request.identity = identity ? identity : "";
    request.maxKey = maxPsk;
    if (const SecretString *known = m_context->serverPsk(request.identity))
        request.key = *known;
    if (m_pskProvider)
        m_pskProvider(request);
    const std::string &key = request.key.value();
    if (key.empty() || key.size() > maxPsk) {
        m_pskRefused = request.identity;
        if (tracing())
            trace("pre-shared key: the client offered the identity '" + request.identity +
                  "'; no key for it");
        return 0;
    }
    if (tracing())
        trace("pre-shared key: the client offered the identity '" + request.identity +
              "'; key found (" + std::to_string(key.size()) + " bytes)");
    std::memcpy(psk, key.data(), key.size());
    m_pskIdentity = request.identity;
    return static_cast<unsigned int>(key.size());
}

// OpenSSL hands no session of a resumed TLS 1.2 handshake to the new-session callback, and a
// ticket renewed in it retires the session that was offered: without this, a TLS 1.2 session
// would resume once only.
void Connection::keepResumedSession()
{
    SSL_SESSION *session = SSL_get1_session(m_ssl.get());
    if (session && (!SSL_SESSION_is_resumable(session) || !storeSession(session)))
        SSL_SESSION_free(session);
}

std::string Connection::sessionBinding() const
{
    return m_context->resumptionId() + '\n' + m_sessionKey;
}

std::string Connection::exportSession() const
{
    if (!m_latestSession || !m_verifyFailures.empty() || role() != Role::Client)
        return {};
    return engine::exportSession(m_latestSession.get(), sessionBinding());
}

std::vector<std::string> Connection::peerCertificateChainPem() const
{
    std::vector<std::string> chain;
    if (!m_ssl)
        return chain;
    auto appendPem = [&chain](X509 *cert) {
        if (std::string pem = certificatePem(cert); !pem.empty())
            chain.push_back(std::move(pem));
    };
    X509 *leaf = SSL_get0_peer_certificate(m_ssl.get());
    if (!leaf && !m_rejectedChainPem.empty())
        return m_rejectedChainPem;
    if (leaf)
        appendPem(leaf);
    // A client's list starts with the server's own certificate; a server's does not.
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(m_ssl.get());
    for (int i = 0; sent && i < sk_X509_num(sent); ++i) {
        X509 *cert = sk_X509_value(sent, i);
        if (!leaf || X509_cmp(cert, leaf) != 0)
            appendPem(cert);
    }
    return chain;
}

std::string Connection::localCertificatePem() const
{
    X509 *cert = m_ssl ? SSL_get_certificate(m_ssl.get()) : nullptr;
    return cert ? certificatePem(cert) : std::string();
}

void Connection::refuseServerName(const std::string &name)
{
    // The client's bytes go into a log line: printable ASCII only.
    m_refusedServerName = name;
    for (char &c : m_refusedServerName) {
        if (c < 0x20 || c > 0x7e)
            c = '?';
    }
}

std::string Connection::requestedServerName() const
{
    const char *name = m_ssl && role() == Role::Server
                           ? SSL_get_servername(m_ssl.get(), TLSEXT_NAMETYPE_host_name)
                           : nullptr;
    return name ? name : std::string();
}

} // namespace securesocket::engine
