#!/usr/bin/env bash
# Offline checks of the deployment files, for CI and for anyone changing
# them: shellcheck on every shell script under ami/ and deploy/,
# systemd-analyze on the service unit, terraform fmt on deploy/terraform.
# The two Debian tools (packages shellcheck, systemd) are installed when
# missing (as root); only terraform may be absent, and then its step is
# skipped with a message. The HCL invariants are Go tests:
# go test ./deploy/...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# ensure COMMAND PACKAGE installs PACKAGE when COMMAND is missing.
ensure() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "verify: $cmd is missing; install the $pkg package" >&2
    exit 1
  fi
  echo "verify: installing $pkg"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
}

ensure shellcheck shellcheck
ensure systemd-analyze systemd

echo "verify: shellcheck"
mapfile -t scripts < <(find ami deploy -name '*.sh' -type f | sort)
shellcheck "${scripts[@]}"

# systemd-analyze verify fails when ExecStart's binary does not exist, which
# it does not outside the AMI: verify a copy that runs /bin/true instead.
# It only warns (exit 0) on unknown or misspelled settings, so any output at
# all is a failure.
echo "verify: systemd-analyze verify ami/files/switchboard.service"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's#^ExecStart=/usr/local/bin/switchboard#ExecStart=/bin/true#' \
  ami/files/switchboard.service >"$tmp/switchboard.service"
if ! grep -q '^ExecStart=/bin/true' "$tmp/switchboard.service"; then
  echo "verify: ExecStart is not /usr/local/bin/switchboard; update deploy/verify.sh" >&2
  exit 1
fi
out=$(systemd-analyze verify "$tmp/switchboard.service" 2>&1) || {
  echo "$out" >&2
  exit 1
}
if [[ -n $out ]]; then
  echo "$out" >&2
  exit 1
fi

# Exposure is 0 (locked down) to 100 (unrestricted); the unit scores 15.
echo "verify: systemd-analyze security (threshold 20)"
systemd-analyze security --offline=yes --threshold=20 "$tmp/switchboard.service" >"$tmp/security.txt" 2>&1 || {
  tail -n 3 "$tmp/security.txt" >&2
  exit 1
}

if command -v terraform >/dev/null 2>&1; then
  echo "verify: terraform fmt -check -recursive deploy/terraform"
  terraform fmt -check -recursive deploy/terraform
else
  echo "verify: SKIPPED terraform fmt -check: terraform is not installed"
fi

echo "verify: ok"
