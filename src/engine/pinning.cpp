// Public-key pins: computing, parsing and matching them.
#include "pinning.h"

#include "verify.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>

namespace securesocket::engine {

namespace {

constexpr char kPrefix[] = "sha256//";
constexpr size_t kPrefixSize = sizeof(kPrefix) - 1;

std::string base64(const unsigned char *data, size_t size)
{
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()), data,
                                  static_cast<int>(size));
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
}

// Whether text is the base64 of exactly 32 bytes (44 characters, one '=' of padding).
bool isSha256Base64(const std::string &text)
{
    if (text.size() != 44 || text.back() != '=' || text[42] == '=')
        return false;
    const bool alphabet = std::all_of(text.begin(), text.end() - 1, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    });
    unsigned char decoded[33];
    return alphabet &&
           EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char *>(text.data()),
                           static_cast<int>(text.size())) == 33;
}

std::string trimmed(const std::string &text)
{
    const size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos)
        return {};
    const size_t end = text.find_last_not_of(" \t\r\n");
    return text.substr(begin, end - begin + 1);
}

} // namespace

std::string publicKeyPin(X509 *cert)
{
    unsigned char *der = nullptr;
    const int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (size <= 0)
        return {};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestSize = 0;
    const bool ok =
        EVP_Digest(der, static_cast<size_t>(size), digest, &digestSize, EVP_sha256(), nullptr) == 1;
    OPENSSL_free(der);
    return ok ? kPrefix + base64(digest, digestSize) : std::string();
}

bool parsePins(const std::vector<std::string> &given, std::vector<std::string> *pins,
               std::string *error)
{
    pins->clear();
    for (const std::string &entry : given) {
        for (size_t start = 0; start <= entry.size();) {
            const size_t end = std::min(entry.find(';', start), entry.size());
            const std::string pin = trimmed(entry.substr(start, end - start));
            start = end + 1;
            if (pin.empty() && entry.find(';') != std::string::npos)
                continue; // "a;b;": nothing after the last ';'
            if (pin.compare(0, kPrefixSize, kPrefix) != 0 ||
                !isSha256Base64(pin.substr(kPrefixSize))) {
                *error = "invalid public key pin '" + pin +
                         "': a pin is 'sha256//' followed by the base64 SHA-256 digest of the "
                         "certificate's public key (SubjectPublicKeyInfo), 44 characters";
                return false;
            }
            if (std::find(pins->begin(), pins->end(), pin) == pins->end())
                pins->push_back(pin);
        }
    }
    return true;
}

X509StackPtr pinnedCertificates(const STACK_OF(X509) * certs, const std::vector<std::string> &pins)
{
    X509StackPtr matching(sk_X509_new_null());
    for (int i = 0; matching && certs && i < sk_X509_num(certs); ++i) {
        X509 *cert = sk_X509_value(certs, i);
        const std::string pin = publicKeyPin(cert);
        if (std::find(pins.begin(), pins.end(), pin) == pins.end())
            continue;
        if (sk_X509_push(matching.get(), cert) > 0)
            X509_up_ref(cert);
    }
    return matching;
}

std::string describePins(const STACK_OF(X509) * certs)
{
    std::string text;
    for (int i = 0; certs && i < sk_X509_num(certs); ++i) {
        X509 *cert = sk_X509_value(certs, i);
        if (!text.empty())
            text += ", ";
        text += publicKeyPin(cert) + " (" + nameToString(X509_get_subject_name(cert)) + ")";
    }
    return text;
}

} // namespace securesocket::engine
