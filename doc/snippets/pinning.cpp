// doc/pinning.md: pins on top of verification, and pins as the only trust anchors. Built by the
// suite (snippet_pinning) and run: it only makes the configurations.
#include <SecureSocket/secureconfiguration.h>

SecureConfiguration pinsOnTopOfVerification()
{
    // clang-format off
    //! [on-top]
    SecureConfiguration config;
    config.setPinnedPublicKeys({"sha256//YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg=",   // current key
                                "sha256//sRHdihwgkaib1P1gxX8HFszlD+7/gTfNvuAybgLPNis="}); // next key
    //! [on-top]
    // clang-format on
    return config;
}

void pinsAsTrustAnchors(SecureConfiguration &config, const QString &devicePin)
{
    //! [anchors]
    config.setPinnedPublicKeys({devicePin});
    config.setPinningMode(SecureConfiguration::PinsAreTrustAnchors);
    //! [anchors]
}

int main()
{
    const SecureConfiguration onTop = pinsOnTopOfVerification();
    SecureConfiguration anchors;
    pinsAsTrustAnchors(anchors,
                       QStringLiteral("sha256//YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="));
    return onTop.pinnedPublicKeys().size() == 2 &&
                   onTop.pinningMode() == SecureConfiguration::PinsAddToVerification &&
                   anchors.pinningMode() == SecureConfiguration::PinsAreTrustAnchors
               ? 0
               : 1;
}
