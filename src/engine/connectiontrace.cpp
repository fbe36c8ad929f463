// Connection's trace lines (see trace.h): what is said at each step, and the counts of records
// and bytes. Only called while tracing(); nothing here may put a secret or plaintext in a line.
#include "connection.h"

namespace securesocket::engine {

namespace {
// Names and identities may come from the peer: printable ASCII only in a line.
std::string printable(std::string text)
{
    for (char &c : text) {
        if (c < 0x20 || c > 0x7e)
            c = '?';
    }
    return text;
}

const char *verifyModeName(VerifyMode mode)
{
    switch (mode) {
    case VerifyMode::Verify:
        return "verify";
    case VerifyMode::Query:
        return "query (failures reported, never fatal)";
    case VerifyMode::None:
        return "none";
    }
    return "?";
}
} // namespace

void Connection::trace(const std::string &line) const
{
    if (m_trace)
        m_trace(this, role(), printable(line));
}

void Connection::traceStart()
{
    std::string line = "new connection, peer verification: " +
                       std::string(verifyModeName(m_context->verifyMode()));
    if (role() == Role::Client) {
        const char *sni = SSL_get_servername(m_ssl.get(), TLSEXT_NAMETYPE_host_name);
        line += ", verified name '" + m_peerName + "', server name (SNI) " +
                (sni ? "'" + std::string(sni) + "'" : std::string("none (an IP address)"));
        switch (m_sessionImport) {
        case SessionImport::Used:
            line += ", offering the session the application imported";
            break;
        case SessionImport::OtherBinding:
        case SessionImport::Malformed:
            line += ", the session the application imported is not usable here";
            break;
        default:
            break;
        }
        if (m_sessionImport != SessionImport::Used)
            line += SSL_get_session(m_ssl.get()) ? ", offering a cached session"
                                                 : ", no session to resume";
    }
    trace(line);
}

// OpenSSL's handshake state machine, step by step ("SSLv3/TLS write client hello").
void Connection::traceState(int where)
{
    if ((where & SSL_CB_HANDSHAKE_START) != 0)
        trace(m_phase == Phase::Handshake ? "handshake started" : "post-handshake message");
    if ((where & SSL_CB_LOOP) != 0)
        trace(std::string("state: ") + SSL_state_string_long(m_ssl.get()));
}

// Only the record header is read: the content type and length, never the content.
void Connection::recordCallback(int writing, int, int contentType, const void *data, size_t size,
                                SSL *ssl, void *)
{
    if (contentType != SSL3_RT_HEADER || size < SSL3_RT_HEADER_LENGTH)
        return;
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    if (!hooks)
        return;
    auto *connection = static_cast<Connection *>(hooks);
    const auto *header = static_cast<const unsigned char *>(data);
    const size_t bytes = SSL3_RT_HEADER_LENGTH + ((size_t{header[3]} << 8) | header[4]);
    Traffic &traffic = connection->m_traffic;
    if (writing != 0) {
        ++traffic.recordsOut;
        traffic.bytesOut += bytes;
    } else {
        ++traffic.recordsIn;
        traffic.bytesIn += bytes;
    }
}

void Connection::traceTraffic()
{
    if (!(m_traffic != m_tracedTraffic))
        return;
    const Traffic &now = m_traffic;
    const Traffic &before = m_tracedTraffic;
    trace("records in " + std::to_string(now.recordsIn - before.recordsIn) + " (" +
          std::to_string(now.bytesIn - before.bytesIn) + " bytes), out " +
          std::to_string(now.recordsOut - before.recordsOut) + " (" +
          std::to_string(now.bytesOut - before.bytesOut) + " bytes); in all " +
          std::to_string(now.recordsIn) + " in (" + std::to_string(now.bytesIn) + " bytes), " +
          std::to_string(now.recordsOut) + " out (" + std::to_string(now.bytesOut) + " bytes)");
    m_tracedTraffic = m_traffic;
}

void Connection::traceVerification(X509 *leaf)
{
    const std::string subject =
        leaf ? " '" + nameToString(X509_get_subject_name(leaf)) + "'" : std::string();
    if (m_verifyFailures.empty()) {
        trace("the " + peer() + "'s certificate" + subject + " verified: no failure");
        return;
    }
    std::string line = "the " + peer() + "'s certificate" + subject + " failed verification (" +
                       std::to_string(m_verifyFailures.size()) + "):";
    for (const VerifyFailure &failure : m_verifyFailures) {
        const char *name = verifyErrorName(failure.code);
        line += std::string(" [") + (name ? name : "?") + "] " + failure.message + ";";
    }
    line.pop_back();
    trace(line);
}

void Connection::traceHandshakeDone()
{
    std::string line = "handshake done: " + m_info.protocol + ", " + m_info.cipher;
    if (!m_info.group.empty())
        line += ", group " + m_info.group;
    if (!m_info.alpn.empty())
        line += ", ALPN '" + m_info.alpn + "'";
    line += m_info.resumed ? ", session resumed" : ", full handshake (no session resumed)";
    if (!m_info.pskIdentity.empty())
        line += ", authenticated by the pre-shared key of '" + m_info.pskIdentity + "'";
    if (role() == Role::Server) {
        const std::string sni = requestedServerName();
        line += sni.empty() ? ", the client asked for no server name (SNI)"
                            : ", the client asked for the server name (SNI) '" + sni + "'";
    }
    if (X509 *ours = SSL_get_certificate(m_ssl.get()))
        line += ", our certificate '" + nameToString(X509_get_subject_name(ours)) + "'";
    trace(line);
}

} // namespace securesocket::engine
