// The checks of our own certificate: its dates against a given time, its (extended) key usage
// against the role, each problem as one sentence.
#include "identitycheck.h"

#include "verify.h"

namespace securesocket::engine {

namespace {

constexpr long kDay = 24L * 3600;

bool toTime(const ASN1_TIME *time, std::time_t *out)
{
    std::tm tm{};
    if (!time || ASN1_TIME_to_tm(time, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

std::string timeText(std::time_t time)
{
    std::tm tm{};
    char text[32];
    if (!gmtime_r(&time, &tm) ||
        std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        return "an unreadable date";
    return text;
}

std::string inDays(long seconds)
{
    const long days = seconds / kDay;
    if (days == 0)
        return "in less than a day";
    return "in " + std::to_string(days) + (days == 1 ? " day" : " days");
}

} // namespace

IdentityCheck::IdentityCheck(X509 *leaf, const std::string &what, bool server, bool signatureNeeded)
    : m_who(what + " ('" + nameToString(X509_get_subject_name(leaf)) + "')")
{
    m_datesKnown = toTime(X509_get0_notBefore(leaf), &m_notBefore) &&
                   toTime(X509_get0_notAfter(leaf), &m_notAfter);
    if (!m_datesKnown)
        m_usage.push_back(m_who + " has validity dates that cannot be read");

    // UINT32_MAX when the extension is absent: then every use is allowed.
    const uint32_t usage = X509_get_key_usage(leaf);
    if (usage != UINT32_MAX) {
        if (!server && !(usage & KU_DIGITAL_SIGNATURE))
            m_usage.push_back(m_who +
                              ": key usage does not allow a TLS client (no digitalSignature)");
        else if (server && signatureNeeded && !(usage & KU_DIGITAL_SIGNATURE))
            m_usage.push_back(m_who +
                              ": key usage does not allow a TLS server with these settings (no "
                              "digitalSignature, which TLS 1.3 and ECDHE key exchange need)");
        else if (server && !signatureNeeded && !(usage & KU_KEY_ENCIPHERMENT))
            m_usage.push_back(m_who +
                              ": key usage does not allow a TLS server with these settings (no "
                              "keyEncipherment, which static RSA key exchange needs)");
    }
    const uint32_t extended = X509_get_extended_key_usage(leaf);
    const uint32_t purpose = server ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
    if (extended != UINT32_MAX && (extended & (purpose | XKU_ANYEKU)) == 0)
        m_usage.push_back(m_who + ": extended key usage does not allow a TLS " +
                          (server ? "server (no serverAuth)" : "client (no clientAuth)"));
}

std::vector<std::string> IdentityCheck::warnings(std::time_t now) const
{
    std::vector<std::string> warnings;
    if (m_datesKnown) {
        if (m_notBefore > now)
            warnings.push_back(m_who + " is not valid until " + timeText(m_notBefore));
        if (m_notAfter < now)
            warnings.push_back(m_who + " expired on " + timeText(m_notAfter));
        else if (m_notAfter - now < kExpiryWarningSeconds)
            warnings.push_back(m_who + " expires " + inDays(static_cast<long>(m_notAfter - now)) +
                               ", on " + timeText(m_notAfter));
    }
    warnings.insert(warnings.end(), m_usage.begin(), m_usage.end());
    return warnings;
}

} // namespace securesocket::engine
