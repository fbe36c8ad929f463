// The sentences of OpenSSL's failures: alert names, version names, and the reason table.
#include "errors.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace securesocket::engine {

namespace {

const char *versionName(int version)
{
    switch (version) {
    case TLS1_3_VERSION:
        return "TLS 1.3";
    case TLS1_2_VERSION:
        return "TLS 1.2";
    default:
        return "TLS";
    }
}

std::string versionRange(int minVersion, int maxVersion)
{
    return minVersion == maxVersion
               ? std::string("only ") + versionName(minVersion)
               : std::string(versionName(minVersion)) + " to " + versionName(maxVersion);
}

} // namespace

std::string alertName(int description)
{
    switch (description) {
    case 109:
        return "missing extension";
    case 116:
        return "certificate required";
    case 120:
        return "no application protocol";
    default:
        break;
    }
    const std::string text = SSL_alert_desc_string_long(description);
    return text == "unknown" ? "alert " + std::to_string(description) : text;
}

Error describeSslFailure(const OsslError &cause, const std::string &peer, int minVersion,
                         int maxVersion)
{
    const int reason = ERR_GET_REASON(cause.code);
    const std::string detail = cause.text.empty() ? "" : " (" + cause.text + ")";
    if (ERR_GET_LIB(cause.code) != ERR_LIB_SSL)
        return {Error::Protocol, "TLS error with " + peer + detail};
    if (reason >= SSL_AD_REASON_OFFSET) {
        const std::string alert = alertName(reason - SSL_AD_REASON_OFFSET);
        std::string message = peer + " aborted with the alert '" + alert + "'";
        if (reason - SSL_AD_REASON_OFFSET == 116)
            message += ": it requires a client certificate";
        return {Error::AlertReceived, message};
    }
    switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        return {Error::Protocol, peer + " sent a plain HTTP request, not TLS" + detail};
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_BAD_RECORD_TYPE:
        return {Error::Protocol, peer + " sent data that is not valid TLS" + detail};
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
    case SSL_R_DATA_LENGTH_TOO_LONG:
    case SSL_R_RECORD_TOO_SMALL:
    case SSL_R_EXCESSIVE_MESSAGE_SIZE:
        return {Error::Protocol,
                peer + " sent a TLS record of a size the protocol forbids" + detail};
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_DECRYPTION_FAILED:
        return {Error::Protocol, "a record from " + peer +
                                     " failed its integrity check (data altered in transit?)" +
                                     detail};
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        // When we allow the newest version, the peer can only be too old.
        if (maxVersion >= TLS1_3_VERSION)
            return {Error::Incompatible, peer + " offered only TLS versions older than " +
                                             versionName(minVersion) + ", the minimum allowed" +
                                             detail};
        return {Error::Incompatible, peer + " has no TLS version in common with us (allowed " +
                                         "here: " + versionRange(minVersion, maxVersion) + ")" +
                                         detail};
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_WRONG_CIPHER_RETURNED:
        return {Error::Incompatible, peer +
                                         " has no cipher suite, group or signature algorithm "
                                         "in common with us" +
                                         detail};
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return {Error::Certificate, "client certificate missing: the client sent no certificate "
                                    "and one is required"};
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return {Error::Truncated, peer + " closed the connection without close_notify"};
    default:
        return {Error::Protocol, "TLS error with " + peer + detail};
    }
}

} // namespace securesocket::engine
