#include "identitycheck.h"

#include "verify.h"

namespace securesocket::engine {

namespace {

constexpr long kDay = 24L * 3600;

bool toTm(const ASN1_TIME *time, std::tm *tm)
{
    *tm = std::tm{};
    return time && ASN1_TIME_to_tm(time, tm) == 1;
}

std::string timeText(const ASN1_TIME *time)
{
    std::tm tm{};
    char text[32];
    if (!toTm(time, &tm) || std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
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

std::vector<std::string> identityWarnings(X509 *leaf, const std::string &what, bool server,
                                          std::time_t now)
{
    std::vector<std::string> warnings;
    const std::string who = what + " ('" + nameToString(X509_get_subject_name(leaf)) + "')";
    const ASN1_TIME *notBefore = X509_get0_notBefore(leaf);
    const ASN1_TIME *notAfter = X509_get0_notAfter(leaf);
    // X509_cmp_time: -1 when the time is before now, 1 after, 0 when it cannot be read.
    if (X509_cmp_time(notBefore, &now) > 0)
        warnings.push_back(who + " is not valid until " + timeText(notBefore));
    std::tm end{};
    if (X509_cmp_time(notAfter, &now) < 0) {
        warnings.push_back(who + " expired on " + timeText(notAfter));
    } else if (toTm(notAfter, &end)) {
        const long left = static_cast<long>(timegm(&end) - now);
        if (left < kExpiryWarningSeconds)
            warnings.push_back(who + " expires " + inDays(left) + ", on " + timeText(notAfter));
    }

    // UINT32_MAX when the extension is absent: then every use is allowed.
    const uint32_t usage = X509_get_key_usage(leaf);
    const uint32_t needed =
        server ? (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT) : KU_DIGITAL_SIGNATURE;
    if (usage != UINT32_MAX && (usage & needed) == 0)
        warnings.push_back(who + ": key usage does not allow a TLS " +
                           (server ? "server (no digitalSignature or keyEncipherment)"
                                   : "client (no digitalSignature)"));
    const uint32_t extended = X509_get_extended_key_usage(leaf);
    const uint32_t purpose = server ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
    if (extended != UINT32_MAX && (extended & (purpose | XKU_ANYEKU)) == 0)
        warnings.push_back(who + ": extended key usage does not allow a TLS " +
                           (server ? "server (no serverAuth)" : "client (no clientAuth)"));
    return warnings;
}

} // namespace securesocket::engine
