// Finding the system CA bundle or directory (environment, OpenSSL's defaults, common paths) and
// loading it once per process into the store that contexts share.
#include "systemca.h"

#include "context.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace securesocket::engine {

namespace {

bool isFile(const std::string &path)
{
    std::error_code ec;
    return !path.empty() && std::filesystem::is_regular_file(path, ec);
}

bool isDirectory(const std::string &path)
{
    std::error_code ec;
    return !path.empty() && std::filesystem::is_directory(path, ec);
}

// A directory prepared by `openssl rehash` / update-ca-certificates holds links named by
// subject hash ("5ad8a5d6.0"): OpenSSL then reads a certificate only when a chain needs it.
bool isHashedDirectory(const std::string &path)
{
    std::error_code ec;
    for (const auto &entry : std::filesystem::directory_iterator(path, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() == 10 && name[8] == '.' &&
            std::isdigit(static_cast<unsigned char>(name[9])) &&
            std::all_of(name.begin(), name.begin() + 8,
                        [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
            return true;
    }
    return false;
}

// Both name the same existing file or directory (after links).
bool samePath(const std::string &a, const std::string &b)
{
    std::error_code ea, eb;
    const auto ca = std::filesystem::canonical(a, ea);
    const auto cb = std::filesystem::canonical(b, eb);
    return !a.empty() && !b.empty() && !ea && !eb && ca == cb;
}

std::string envOrEmpty(const char *name)
{
    const char *value = std::getenv(name);
    return value ? value : "";
}

// Where the bundle lives on common systems, after OpenSSL's own default.
const char *const kCommonBundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",                  // RHEL, Fedora, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
    "/etc/ssl/ca-bundle.pem",                            // openSUSE, SLES
    "/etc/ssl/cert.pem",                                 // Alpine, macOS, OpenBSD
    "/usr/local/etc/openssl/cert.pem",                   // macOS with Homebrew
    "/usr/local/share/certs/ca-root-nss.crt",            // FreeBSD
};

SystemCas *load()
{
    auto *cas = new SystemCas; // lives as long as the process
    cas->store = X509_STORE_new();
    OsslErrorScope errors;

    // As OpenSSL's own default paths: each variable, when set, replaces its own default only.
    const std::string envFile = envOrEmpty(X509_get_default_cert_file_env());
    const std::string envDir = envOrEmpty(X509_get_default_cert_dir_env());
    const std::string file = envFile.empty() ? X509_get_default_cert_file() : envFile;
    const std::string directory = envDir.empty() ? X509_get_default_cert_dir() : envDir;
    cas->file = isFile(file) ? file : "";
    cas->directory = isDirectory(directory) ? directory : "";
    std::string origin = envFile.empty() && envDir.empty() ? "OpenSSL default"
                         : envDir.empty()                  ? "from SSL_CERT_FILE"
                         : envFile.empty()                 ? "from SSL_CERT_DIR"
                                                           : "from SSL_CERT_FILE and SSL_CERT_DIR";
    if (cas->file.empty() && cas->directory.empty() && envFile.empty() && envDir.empty()) {
        for (const char *bundle : kCommonBundles) {
            if (isFile(bundle)) {
                cas->file = bundle;
                origin = "common bundle";
                break;
            }
        }
    }

    // Parsing a whole bundle costs tens of milliseconds per process; a hashed directory holding
    // the same certificates is read lazily instead, one certificate per issuer looked up. Only
    // the system's own bundle beside its own directory is skipped so (also when the variables
    // merely name those two again, as some distributions set them): another bundle named by
    // SSL_CERT_FILE, or a bundle beside another directory, may hold other CAs.
    const bool systemPair = samePath(cas->file, X509_get_default_cert_file()) &&
                            samePath(cas->directory, X509_get_default_cert_dir());
    if (systemPair && isHashedDirectory(cas->directory))
        cas->file.clear();
    if (!cas->file.empty() && cas->store &&
        X509_STORE_load_file(cas->store, cas->file.c_str()) != 1)
        cas->file.clear();
    if (!cas->directory.empty() && cas->store &&
        X509_STORE_load_path(cas->store, cas->directory.c_str()) != 1)
        cas->directory.clear();

    if (cas->file.empty() && cas->directory.empty()) {
        cas->source = "none found (" + origin + ")";
        return cas;
    }
    STACK_OF(X509_OBJECT) *objects = cas->store ? X509_STORE_get0_objects(cas->store) : nullptr;
    const int count = objects ? sk_X509_OBJECT_num(objects) : 0;
    if (!cas->file.empty())
        cas->source = "file " + cas->file + " (" + std::to_string(count) + " certificates)";
    if (!cas->directory.empty())
        cas->source += (cas->source.empty() ? "" : " and ") + std::string("directory ") +
                       cas->directory + " (certificates read on demand by subject hash)";
    cas->source += ", " + origin;
    return cas;
}

} // namespace

const SystemCas &systemCas()
{
    static const SystemCas *cas = load(); // thread-safe initialisation
    return *cas;
}

bool addSystemCas(X509_STORE *store)
{
    const SystemCas &cas = systemCas();
    if (!cas.file.empty()) {
        X509StackPtr certs(X509_STORE_get1_all_certs(cas.store));
        for (int i = 0; certs && i < sk_X509_num(certs.get()); ++i) {
            if (X509_STORE_add_cert(store, sk_X509_value(certs.get(), i)) != 1)
                return false;
        }
    }
    if (!cas.directory.empty() && X509_STORE_load_path(store, cas.directory.c_str()) != 1)
        return false;
    return true;
}

std::string systemCaSource()
{
    return systemCas().source;
}

} // namespace securesocket::engine
