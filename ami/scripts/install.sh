#!/usr/bin/env bash
# Installs switchboard on an Amazon Linux 2023 build instance; run by Packer
# as root. Inputs (environment): BINARY, FILES, RDS_CA_BUNDLE_URL.
set -euo pipefail

: "${BINARY:?path of the uploaded binary}"
: "${FILES:?directory of the uploaded ami/files}"
: "${RDS_CA_BUNDLE_URL:?URL of the RDS CA bundle}"

dnf -y install amazon-cloudwatch-agent rsyslog logrotate

if ! id switchboard >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin switchboard
fi

install -m 0755 -o root -g root "$BINARY" /usr/local/bin/switchboard
/usr/local/bin/switchboard version

install -d -m 0755 -o root -g root /etc/switchboard
install -m 0644 -o root -g root "$FILES/switchboard.env" /etc/switchboard/switchboard.env

# The RDS CA bundle lets the service connect with sslmode=verify-full.
ca_tmp=$(mktemp)
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
  --output "$ca_tmp" "$RDS_CA_BUNDLE_URL"
if ! grep -q 'BEGIN CERTIFICATE' "$ca_tmp"; then
  echo "install.sh: $RDS_CA_BUNDLE_URL did not return a PEM bundle" >&2
  exit 1
fi
install -m 0644 -o root -g root "$ca_tmp" /etc/switchboard/rds-ca.pem
rm -f "$ca_tmp"

install -m 0644 -o root -g root "$FILES/switchboard.service" /etc/systemd/system/switchboard.service
install -m 0644 -o root -g root "$FILES/rsyslog-switchboard.conf" /etc/rsyslog.d/30-switchboard.conf
install -m 0644 -o root -g root "$FILES/logrotate-switchboard" /etc/logrotate.d/switchboard
install -d -m 0750 -o root -g cwagent /var/log/switchboard

agent_dir=/opt/aws/amazon-cloudwatch-agent
install -m 0644 -o root -g root "$FILES/amazon-cloudwatch-agent.json" "$agent_dir/etc/amazon-cloudwatch-agent.json"
# Translate (and so validate) the agent config now; the agent starts at boot.
"$agent_dir/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 \
  -c "file:$agent_dir/etc/amazon-cloudwatch-agent.json"
"$agent_dir/bin/amazon-cloudwatch-agent-ctl" -a stop

systemd-analyze verify /etc/systemd/system/switchboard.service
systemctl daemon-reload
systemctl enable rsyslog.service amazon-cloudwatch-agent.service switchboard.service

dnf clean all
rm -rf "$BINARY" "$FILES" /var/cache/dnf
