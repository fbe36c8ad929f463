/// \file
/// SecureSocket: the stable codes of certificate verification failures.
///
/// This header depends on nothing (no Qt, no OpenSSL): the engine and the Qt classes share it.
#ifndef SECURESOCKET_VERIFYERROR_H
#define SECURESOCKET_VERIFYERROR_H

#include <SecureSocket/securesocket_export.h>

/// The code of a certificate verification failure (SecureCertificateError::error).
///
/// Values are stable across releases: applications may store or compare them as integers
/// (SecureSocket::certCheckFailed() passes them as int). verifyErrorName() gives each a short,
/// stable name.
enum class VerifyError : int {
    NoError = 0,       ///< No failure.
    Expired = 1,       ///< A certificate's notAfter is in the past.
    NotYetValid = 2,   ///< A certificate's notBefore is in the future.
    SelfSigned = 3,    ///< The peer's own certificate is self-signed and not trusted.
    UnknownIssuer = 4, ///< The issuer of a certificate is neither trusted nor sent by the peer.
    /// The peer did not send an intermediate CA certificate it should have.
    MissingIntermediate = 5,
    HostnameMismatch = 6,  ///< The certificate is not valid for the DNS name connected to.
    IpAddressMismatch = 7, ///< The certificate is not valid for the IP address connected to.
    /// Key usage or extended key usage forbids this use (for example, TLS server).
    InvalidPurpose = 8,
    Revoked = 9,            ///< A certificate is listed in a configured CRL.
    UntrustedRoot = 10,     ///< The chain ends in a root certificate that is not trusted.
    ChainTooLong = 11,      ///< The chain is longer than allowed (depth or pathLenConstraint).
    InvalidCa = 12,         ///< An issuing certificate is not a CA (no CA:true or no keyCertSign).
    BadSignature = 13,      ///< A signature in the chain does not verify.
    NoPeerCertificate = 14, ///< The peer sent no certificate at all.
    /// A CRL is configured but missing, expired or invalid for this chain.
    CrlProblem = 15,
    WeakKey = 16,            ///< A key or signature algorithm is below the security level.
    InvalidCertificate = 17, ///< A certificate is malformed (bad dates, bad encoding, ...).
    /// OCSP stapling (see doc/ocsp-stapling.md): a good stapled OCSP response is required
    /// (SecureConfiguration::setOcspStaplingRequired()) and none was stapled.
    OcspResponseMissing = 18,
    /// OCSP stapling: the stapled response is malformed, unsuccessful, wrongly signed, not for
    /// the server's certificate, or its responder does not know the certificate.
    OcspResponseInvalid = 19,
    /// OCSP stapling: the stapled response is past its nextUpdate, or its thisUpdate is ahead of
    /// our clock.
    OcspResponseExpired = 20,
    /// OCSP stapling: a valid stapled OCSP response says the server's certificate is revoked.
    OcspRevoked = 21,
    /// Public-key pinning (SecureConfiguration::setPinnedPublicKeys()): no certificate of the
    /// peer's chain has a pinned public key.
    PinMismatch = 22,
    Other = 99 ///< Any other failure; the message says which.
};

/// A short, stable, lower-case name for the code ("expired", "self-signed", ...), for example for
/// command-line options.
/// \return the name, or nullptr for a value that is not a VerifyError code.
SECURESOCKET_EXPORT const char *verifyErrorName(VerifyError error);

/// The code for a name returned by verifyErrorName().
/// \return the code, or VerifyError::Other if no code has that name (or name is nullptr).
SECURESOCKET_EXPORT VerifyError verifyErrorFromName(const char *name);

#endif
