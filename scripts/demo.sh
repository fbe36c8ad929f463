#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demonstration:
#   1. a TLS client and server in one process (examples/demo),
#   2. the echoserver example with throwaway certificates, and our client talking to it,
#   3. the imapclient example against a throwaway Dovecot, with IMAPS and with STARTTLS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSECURESOCKET_WERROR=ON >/dev/null
cmake --build build --target securesocket-demo echoserver imapclient
B=build/examples

work=$(mktemp -d /tmp/ssdemo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/dovecot.conf" ] && doveadm -c "$work/dovecot.conf" stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo; echo "== 1. A TLS server and client in one process"
"$B/demo/securesocket-demo"

echo; echo "== 2. The echoserver example, and our client"
"$B/demo/securesocket-demo" --pki "$work"
"$B/echoserver/echoserver" --address 127.0.0.1 --port 0 --cert "$work/server.pem" \
  --key "$work/server.key" 2>"$work/echoserver.log" &
pids+=($!)
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listener .* on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/echoserver.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/echoserver.log"; echo "echoserver did not start"; exit 1; }
"$B/demo/securesocket-demo" --connect "$port" "$work/ca.pem"
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
echo "echoserver's log:"; sed 's/^/  /' "$work/echoserver.log"

echo; echo "== 3. The imapclient example against a throwaway Dovecot"
if [ "$(id -u)" -ne 0 ]; then
  echo "(skipped: Dovecot needs root to switch to its mail user)"
  exit 0
fi
imap=$(free_port); imaps=$(free_port)
mkdir -p "$work/run" "$work/state" "$work/home/Maildir/new" "$work/home/Maildir/cur" "$work/home/Maildir/tmp"
printf 'From: demo@example.com\r\nSubject: Hello\r\n\r\nWelcome.\r\n' >"$work/home/Maildir/new/1.demo"
echo "demo:{PLAIN}demo-password:65534:65534::$work/home" >"$work/passwd"
echo "demo-password" >"$work/password.txt"
chown -R nobody:nogroup "$work/home"; chmod 755 "$work"
cat >"$work/dovecot.conf" <<CONF
base_dir = $work/run
state_dir = $work/state
log_path = $work/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <$work/server.pem
ssl_key = <$work/server.key
disable_plaintext_auth = yes
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = $work/passwd
}
userdb {
  driver = passwd-file
  args = $work/passwd
}
service imap-login {
  inet_listener imap {
    port = $imap
  }
  inet_listener imaps {
    port = $imaps
    ssl = yes
  }
  chroot =
}
service anvil {
  chroot =
}
CONF
dovecot -c "$work/dovecot.conf" </dev/null >/dev/null 2>&1
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$imaps) 2>/dev/null && break; sleep 0.1; done
echo "-- IMAPS (implicit TLS) on port $imaps"
"$B/imapclient/imapclient" --cafile "$work/ca.pem" --no-system-ca --user demo \
  --password-file "$work/password.txt" --command 'SELECT INBOX' localhost "$imaps"
echo "-- STARTTLS on port $imap, with the blocking API"
"$B/imapclient/imapclient" --starttls --blocking --cafile "$work/ca.pem" --no-system-ca --user demo \
  --password-file "$work/password.txt" --command 'SELECT INBOX' localhost "$imap"
echo "-- A certificate problem, handled in a slot: the system CAs do not know the demo CA"
status=0
"$B/imapclient/imapclient" --user demo --password-file "$work/password.txt" localhost "$imaps" || status=$?
echo "imapclient exited with $status (2: certificate verification failed, nothing was sent)"
