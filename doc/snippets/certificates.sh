#!/bin/sh
# doc/certificates.md: a private CA, a server certificate with DNS and IP names, a client
# certificate whose key is protected by a passphrase. Run it in an empty directory: it writes
#   ca.pem ca.key                 the private CA (keep ca.key offline)
#   server.pem server.key         the server: localhost, 127.0.0.1 and 127.0.125.10
#   alice.pem alice.key alice.pass  a client, her key encrypted with the passphrase in alice.pass
# Needs the openssl command line tool (OpenSSL 3.0 or later).
set -eu
umask 077 # keys and passphrases readable by their owner only

# [ca]
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=My Private CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem
# [ca]

# [server]
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
cat > server.ext <<'END'
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:127.0.125.10
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
END
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -sha256 -days 365 \
    -extfile server.ext -out server.pem
# [server]

# [client]
openssl rand -base64 24 > alice.pass
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -aes256 -pass file:alice.pass -out alice.key
openssl req -new -key alice.key -passin file:alice.pass -subj "/CN=alice" -out alice.csr
cat > client.ext <<'END'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
END
openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -sha256 -days 365 \
    -extfile client.ext -out alice.pem
# [client]

# [check]
openssl verify -CAfile ca.pem -purpose sslserver server.pem
openssl verify -CAfile ca.pem -purpose sslclient alice.pem
# [check]
chmod 644 ca.pem server.pem alice.pem # certificates are public
rm -f server.csr alice.csr server.ext client.ext
