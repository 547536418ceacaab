package terraform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// breakage is one invariant broken by a single text edit.
type breakage struct {
	name      string
	file      string // relative to the repository root
	old, new  string
	complaint string // a fragment the check must report
}

var breakages = []breakage{
	{"PackerIMDSv1Allowed", "ami/switchboard.pkr.hcl",
		"http_tokens                 = \"required\"", "http_tokens                 = \"optional\"", "ami: metadata_options.http_tokens"},
	{"PackerUnencryptedAMI", "ami/switchboard.pkr.hcl",
		"encrypt_boot = true", "encrypt_boot = false", "encrypt_boot must be true"},
	{"PackerUploadIntoMissingDirectory", "ami/switchboard.pkr.hcl",
		"inline = [\"mkdir -p /tmp/switchboard-files\"]", "inline = [\"true\"]", "needs an earlier shell provisioner"},
	{"DeregistrationShorterThanRequests", "deploy/terraform/modules/load_balancer/main.tf",
		"deregistration_delay = 30", "deregistration_delay = 10", "deregistration_delay must cover"},
	{"DeregistrationDefault300", "deploy/terraform/modules/load_balancer/main.tf",
		"deregistration_delay = 30", "deregistration_delay = 300", "deregistration_delay must cover"},
	{"HealthCheckSlowerThanDrain", "deploy/terraform/modules/load_balancer/main.tf",
		"interval            = 5", "interval            = 10", "must fit in the drain delay"},
	{"UnhealthyThresholdAboveDrain", "deploy/terraform/modules/load_balancer/main.tf",
		"unhealthy_threshold = 2", "unhealthy_threshold = 4", "must fit in the drain delay"},
	{"IdleTimeoutAboveKeepAlive", "deploy/terraform/modules/load_balancer/main.tf",
		"idle_timeout               = 60", "idle_timeout               = 90", "idle_timeout must be set below"},
	{"StopTimeoutTooShort", "ami/files/switchboard.service",
		"\nTimeoutStopSec=75\n", "\nTimeoutStopSec=60\n", "TimeoutStopSec must be at least"},
	{"IdleTimeoutBelowRelayPing", "deploy/terraform/modules/load_balancer/main.tf",
		"idle_timeout               = 60", "idle_timeout               = 15", "exceed the relay's ping interval"},
	{"LifecyclePollingOff", "deploy/terraform/examples/two-region/config.tf",
		"LIFECYCLE_POLL_INTERVAL = \"5s\"", "# no lifecycle polling", "LIFECYCLE_POLL_INTERVAL must be set"},
	{"LifecyclePollingTooSlow", "deploy/terraform/examples/two-region/config.tf",
		"LIFECYCLE_POLL_INTERVAL = \"5s\"", "LIFECYCLE_POLL_INTERVAL = \"30s\"", "deregistration_delay must cover moving the streamed calls"},
	{"ServiceAsRoot", "ami/files/switchboard.service",
		"User=switchboard", "User=root", "dedicated unprivileged user"},
	{"WritableSystem", "ami/files/switchboard.service",
		"ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"},
	{"AgentShipsToAnotherLogGroup", "ami/files/amazon-cloudwatch-agent.json",
		"\"log_group_name\": \"/switchboard/app\"", "\"log_group_name\": \"/switchboard/other\"", "is not the agent's log group"},
	{"AgentNamespaceNotAllowed", "ami/files/amazon-cloudwatch-agent.json",
		"\"namespace\": \"switchboard/host\"", "\"namespace\": \"CWAgent\"", "is not the agent's namespace"},
}

// copyTree copies the files checkDeployment reads into a fresh directory.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	for _, sub := range []string{"deploy/terraform", "ami"} {
		err := filepath.WalkDir(filepath.Join(from, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(from, path)
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == ".terraform" {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(to, rel), 0o755)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(to, rel), raw, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeploymentInvariantsCatchBreakage breaks each invariant in a copy of
// the files and shows the check reports it, so a passing
// TestDeploymentInvariants means something.
func TestDeploymentInvariantsCatchBreakage(t *testing.T) {
	repo := filepath.Join("..", "..")
	pristine := t.TempDir()
	copyTree(t, repo, pristine)
	if got, err := checkDeployment(pristine, serviceTiming); err != nil || len(got) != 0 {
		t.Fatalf("the unmodified copy fails: %v %v", err, got)
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, repo, dir)
			path := filepath.Join(dir, b.file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(raw), b.old); n != 1 {
				t.Fatalf("%s contains %q %d times, want exactly once", b.file, b.old, n)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(raw), b.old, b.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := checkDeployment(dir, serviceTiming)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range got {
				if strings.Contains(p, b.complaint) {
					return
				}
			}
			t.Errorf("breaking %s was not reported (want %q); reported: %q", b.name, b.complaint, got)
		})
	}
}
