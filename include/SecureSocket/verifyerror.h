// SecureSocket: the stable codes of certificate verification failures.
// This header depends on nothing (no Qt, no OpenSSL): the engine and the Qt classes share it.
#ifndef SECURESOCKET_VERIFYERROR_H
#define SECURESOCKET_VERIFYERROR_H

#include <SecureSocket/securesocket_export.h>

// Values are stable across releases: applications may store or compare them as integers
// (certCheckFailed(int, QString) passes them as int).
enum class VerifyError : int {
    NoError = 0,
    Expired = 1,             // a certificate's notAfter is in the past
    NotYetValid = 2,         // a certificate's notBefore is in the future
    SelfSigned = 3,          // the peer's own certificate is self-signed and not trusted
    UnknownIssuer = 4,       // the issuer of a certificate is neither trusted nor sent by the peer
    MissingIntermediate = 5, // the peer did not send an intermediate CA certificate it should have
    HostnameMismatch = 6,    // the certificate is not valid for the DNS name connected to
    IpAddressMismatch = 7,   // the certificate is not valid for the IP address connected to
    InvalidPurpose = 8,      // key usage or extended key usage forbids this use (e.g. TLS server)
    Revoked = 9,             // a certificate is listed in a configured CRL
    UntrustedRoot = 10,      // the chain ends in a root certificate that is not trusted
    ChainTooLong = 11,       // the chain is longer than allowed (depth or pathLenConstraint)
    InvalidCa = 12,          // an issuing certificate is not a CA (no CA:true or no keyCertSign)
    BadSignature = 13,       // a signature in the chain does not verify
    NoPeerCertificate = 14,  // the peer sent no certificate at all
    CrlProblem = 15,         // a CRL is configured but missing, expired or invalid for this chain
    WeakKey = 16,            // a key or signature algorithm is below the security level
    InvalidCertificate = 17, // a certificate is malformed (bad dates, bad encoding, ...)
    // OCSP stapling (see doc/ocsp-stapling.md): the server's certificate.
    OcspResponseMissing = 18, // a good stapled OCSP response is required and none was stapled
    OcspResponseInvalid = 19, // malformed, unsuccessful, wrongly signed, not for this
                              // certificate, or its responder does not know the certificate
    OcspResponseExpired = 20, // past its nextUpdate, or its thisUpdate is ahead of our clock
    OcspRevoked = 21,         // a valid stapled OCSP response says the certificate is revoked
    // Public-key pinning (SecureConfiguration::setPinnedPublicKeys()): no certificate of the
    // peer's chain has a pinned public key.
    PinMismatch = 22,
    Other = 99 // any other failure; the message says which
};

// A short, stable, lower-case name for the code ("expired", "self-signed", ...), e.g. for
// command-line options; nullptr for an unknown value.
SECURESOCKET_EXPORT const char *verifyErrorName(VerifyError error);

// The code for a name returned by verifyErrorName(); VerifyError::Other if there is none.
SECURESOCKET_EXPORT VerifyError verifyErrorFromName(const char *name);

#endif
