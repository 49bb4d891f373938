#!/usr/bin/env bash
# Installs the Debian packages that ferry's tests, demo and benchmarks run for real:
# the proxies, stunnel and rsync of the reference path, and the file-system tools.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail

packages=(rsync stunnel4 squid apache2-utils tinyproxy mitmproxy nginx-light haproxy acl attr iproute2 procps)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
