#!/usr/bin/env bash
# Offline checks of the deployment files, for CI (make verify-deploy) and for
# anyone changing them:
#   - shellcheck on every shell script under ami/ and deploy/;
#   - systemd-analyze verify and security on the service unit;
#   - terraform fmt, then, in a copy of deploy/terraform, terraform init from
#     the local provider mirror (no registry access), terraform validate on
#     every module and the two-region example (also as it is after a
#     promotion: after-promotion/), and terraform test with a mocked AWS
#     provider; the failover plans are held to
#     examples/two-region/tests/expected-changes.txt by plancheck;
#   - tfscan (Trivy's Terraform misconfiguration checks, pinned in
#     deploy/tfscan/go.mod) on deploy/terraform.
# The Debian tools (shellcheck, systemd) are installed when missing (as
# root). Terraform and the provider mirror cannot be installed from here:
# without them the Terraform steps are skipped with a message, and with
# CI=true that is a failure. Timing and the files Terraform does not read are
# Go tests: go test ./deploy/...
#
# Settings: TF_PLUGIN_MIRROR (default /opt/tf-plugins), a directory in
# Terraform's unpacked mirror layout holding hashicorp/aws for linux_amd64.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mirror=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
start=$SECONDS

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

# unavailable REASON skips a step that needs what this machine lacks; in CI
# a missing tool is a failure, never a skip.
unavailable() {
  if [[ ${CI:-} == true ]]; then
    echo "verify: FAILED: $1 (CI=true: the Terraform checks are required)" >&2
    exit 1
  fi
  echo "verify: SKIPPED the Terraform checks: $1"
}

ensure shellcheck shellcheck
ensure systemd-analyze systemd

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "verify: shellcheck"
mapfile -t scripts < <(find ami deploy -name '*.sh' -type f | sort)
shellcheck "${scripts[@]}"

# systemd-analyze verify fails when ExecStart's binary does not exist, which
# it does not outside the AMI: verify a copy that runs /bin/true instead.
# It only warns (exit 0) on unknown or misspelled settings, so any output at
# all is a failure.
echo "verify: systemd-analyze verify ami/files/switchboard.service"
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

# terraform_checks runs every Terraform step; it needs terraform and the
# provider mirror.
terraform_checks() {
  echo "verify: terraform fmt -check -recursive deploy/terraform"
  terraform fmt -check -recursive deploy/terraform

  # Offline: providers come from the mirror only (-plugin-dir), the CLI
  # configuration names no other source, and no version check is made.
  cat >"$tmp/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
}
EOF
  export TF_CLI_CONFIG_FILE="$tmp/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

  # A copy, so no .terraform directory or lock file is left in the tree.
  local work=$tmp/terraform
  cp -R deploy/terraform "$work"
  find "$work" \( -name .terraform -o -name .terraform.lock.hcl \) -prune -exec rm -rf {} +
  # The example as it is after a promotion (disaster-recovery.md, step 7).
  cp -R "$work/examples/two-region" "$work/examples/two-region-promoted"
  cp "$work/examples/two-region-promoted/after-promotion/database_primary.tf" \
    "$work/examples/two-region-promoted/database_primary.tf"

  local dirs=() d
  for d in "$work"/modules/*/ "$work/examples/two-region" "$work/examples/two-region-promoted"; do
    dirs+=("${d%/}")
  done
  for d in "${dirs[@]}"; do
    echo "verify: terraform init + validate ${d#"$work/"}"
    (cd "$d" && terraform init -backend=false -input=false -no-color -plugin-dir="$mirror" >"$tmp/init.log" 2>&1) || {
      cat "$tmp/init.log" >&2
      exit 1
    }
    (cd "$d" && terraform validate -no-color)
  done

  local passed=0 n
  for d in "$work"/modules/*/; do
    d=${d%/}
    [[ -d $d/tests ]] || continue
    echo "verify: terraform test ${d#"$work/"}"
    (cd "$d" && terraform test -no-color) >"$tmp/test.log" 2>&1 || {
      cat "$tmp/test.log" >&2
      exit 1
    }
    n=$(sed -n 's/^Success! \([0-9]*\) passed, 0 failed.*/\1/p' "$tmp/test.log")
    echo "verify:   $n passed"
    passed=$((passed + n))
  done

  # The example's plans are also read by plancheck, from the JSON stream.
  local ex=$work/examples/two-region
  echo "verify: terraform test examples/two-region (plans held to tests/expected-changes.txt)"
  local rc=0
  (cd "$ex" && terraform test -no-color -json -verbose) >"$tmp/example.json" 2>"$tmp/example.err" || rc=$?
  go run ./deploy/terraform/plancheck -echo -expect "$ex/tests/expected-changes.txt" \
    <"$tmp/example.json" >"$tmp/example.log" || rc=1
  grep -v -e '^$' -e '^Terraform ' -e 'in progress' -e 'tearing down' "$tmp/example.log" | sed 's/^/verify:   /'
  if [[ $rc -ne 0 ]]; then
    cat "$tmp/example.err" >&2
    exit 1
  fi
  n=$(sed -n 's/^Success! \([0-9]*\) passed, 0 failed.*/\1/p' "$tmp/example.log")
  passed=$((passed + n))

  echo "verify: terraform test examples/two-region after a promotion"
  (cd "$work/examples/two-region-promoted" && terraform test -no-color -test-directory=after-promotion/tests) >"$tmp/test.log" 2>&1 || {
    cat "$tmp/test.log" >&2
    exit 1
  }
  n=$(sed -n 's/^Success! \([0-9]*\) passed, 0 failed.*/\1/p' "$tmp/test.log")
  passed=$((passed + n))
  echo "verify: terraform test: $passed runs passed"
}

if ! command -v terraform >/dev/null 2>&1; then
  unavailable "terraform is not installed"
elif ! compgen -G "$mirror/registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws_*" >/dev/null; then
  unavailable "no hashicorp/aws provider in the mirror $mirror (set TF_PLUGIN_MIRROR)"
else
  terraform_checks
fi

# The scanner must find the problems of a known-bad configuration, or a
# clean result would mean nothing.
echo "verify: tfscan (Trivy's Terraform checks), building from deploy/tfscan"
(cd deploy/tfscan && GOEXPERIMENT=jsonv2 go build -o "$tmp/tfscan" .)
rc=0
"$tmp/tfscan" deploy/tfscan/testdata/insecure >"$tmp/scan.log" 2>&1 || rc=$?
if [[ $rc -ne 1 ]]; then
  cat "$tmp/scan.log" >&2
  echo "verify: tfscan should have failed (exit 1) on deploy/tfscan/testdata/insecure, got exit $rc" >&2
  exit 1
fi
"$tmp/tfscan" deploy/terraform

echo "verify: ok ($((SECONDS - start)) s)"
