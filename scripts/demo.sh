#!/usr/bin/env bash
# make demo: a real migration of a generated tree through a real squid with Basic auth,
# with progress and a summary, then proof that the trees are identical, then a second,
# incremental run after a few changes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin

ferry=$PWD/bin/ferry
tree="go run ./scripts/treetool"
work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    ss -ltn "( sport = :$p )" | grep -q ":$p" || { echo "$p"; return; }
  done
}
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

src=$work/source dst=$work/target
mkdir -p "$dst"
step "Generating a sample tree in $src"
fidelity=--fidelity
[ "$(id -u)" -eq 0 ] || fidelity=   # devices and owners need root
$tree gen --small 5000 --large 3 --large-size 48MiB $fidelity "$src"

step "Starting squid (CONNECT with Basic auth) on loopback"
sq=$work/squid; mkdir -p "$sq"; chown proxy:proxy "$sq"
squid_port=$(free_port)
htpasswd -bc "$sq/passwd" demo 's3cret p@ss' 2>/dev/null
chown proxy "$sq/passwd"
cat > "$sq/squid.conf" <<CONF
http_port 127.0.0.1:$squid_port
pid_filename $sq/squid.pid
cache deny all
access_log stdio:$sq/access.log
cache_log $sq/cache.log
pinger_enable off
shutdown_lifetime 1 seconds
auth_param basic program /usr/lib/squid/basic_ncsa_auth $sq/passwd
acl authed proxy_auth REQUIRED
acl CONNECT method CONNECT
http_access allow authed
http_access deny all
CONF
squid -f "$sq/squid.conf" -N -n "ferrydemo$$" >"$sq/out.log" 2>&1 & pids+=($!)
wait_port "$squid_port"
echo "squid listens on 127.0.0.1:$squid_port (user demo, password 's3cret p@ss')"

step "Certificates for this migration"
$ferry certs generate --out "$work/certs" --server-name localhost

step "Starting the receiver: ferry serve"
serve_port=$(free_port)
$ferry serve --listen "127.0.0.1:$serve_port" --certs "$work/certs" --volume "data=$dst" 2>"$work/serve.log" & pids+=($!)
wait_port "$serve_port"

proxy="http://demo:s3cret%20p%40ss@127.0.0.1:$squid_port"
step "Sending through the proxy: ferry send $src 127.0.0.1:$serve_port/data --proxy http://demo:xxxxx@127.0.0.1:$squid_port"
$ferry send "$src" "127.0.0.1:$serve_port/data" --certs "$work/certs" --server-name localhost --proxy "$proxy" --delete

step "Comparing the trees attribute by attribute"
$tree compare "$src" "$dst"

step "What squid saw (the data went through it)"
for _ in $(seq 50); do grep -q CONNECT "$sq/access.log" 2>/dev/null && break; sleep 0.1; done
grep CONNECT "$sq/access.log" | tail -2 || { echo "squid logged no CONNECT: the data did not go through the proxy" >&2; exit 1; }

step "Changing a few files and sending again: only the changes move"
$tree mutate "$src"
$ferry send "$src" "127.0.0.1:$serve_port/data" --certs "$work/certs" --server-name localhost --proxy "$proxy" --delete
$tree compare "$src" "$dst"
step "Done"
