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
	{"PublicDatabase", "deploy/terraform/modules/database/primary.tf",
		"publicly_accessible    = false", "publicly_accessible    = true", "publicly_accessible must be false"},
	{"UnencryptedReplica", "deploy/terraform/modules/database/replica.tf",
		"storage_encrypted     = true", "storage_encrypted     = false", "storage_encrypted must be true"},
	{"NoDeletionProtection", "deploy/terraform/modules/database/primary.tf",
		"deletion_protection       = true", "deletion_protection       = false", "deletion_protection must be true"},
	{"NoIAMDatabaseAuth", "deploy/terraform/modules/database/primary.tf",
		"iam_database_authentication_enabled = true", "iam_database_authentication_enabled = false", "iam_database_authentication_enabled"},
	{"ShortBackups", "deploy/terraform/modules/database/variables.tf",
		"default     = 14\n", "default     = 1\n", "backup_retention_period must be at least 7"},
	{"NoPerformanceInsights", "deploy/terraform/modules/database/primary.tf",
		"performance_insights_enabled          = true", "performance_insights_enabled          = false", "Performance Insights"},
	{"TLSNotForced", "deploy/terraform/modules/database/primary.tf",
		"value = \"1\"\n", "value = \"0\"\n", "rds.force_ssl = 1"},
	{"ReplicaSharesPrimaryKey", "deploy/terraform/modules/database/replica.tf",
		"kms_key_id            = aws_kms_key.replica.arn", "kms_key_id            = aws_kms_key.primary.arn", "kms_key_id must reference an aws_kms_key of its own in region B"},
	{"ReplicaUsesPrimaryParameterGroup", "deploy/terraform/modules/database/replica.tf",
		"parameter_group_name   = aws_db_parameter_group.replica.name", "parameter_group_name   = aws_db_parameter_group.primary.name", "parameter_group_name must reference"},
	{"ReplicaInRegionA", "deploy/terraform/modules/database/replica.tf",
		"provider            = aws.dr", "provider            = aws", "provider aws.dr (region B)"},
	{"IMDSv1Allowed", "deploy/terraform/modules/compute/main.tf",
		"http_tokens                 = \"required\"", "http_tokens                 = \"optional\"", "IMDSv2"},
	{"PackerIMDSv1Allowed", "ami/switchboard.pkr.hcl",
		"http_tokens                 = \"required\"", "http_tokens                 = \"optional\"", "ami: metadata_options.http_tokens"},
	{"PackerUnencryptedAMI", "ami/switchboard.pkr.hcl",
		"encrypt_boot = true", "encrypt_boot = false", "encrypt_boot must be true"},
	{"PublicInstanceIP", "deploy/terraform/modules/compute/main.tf",
		"associate_public_ip_address = false", "associate_public_ip_address = true", "associate_public_ip_address must be false"},
	{"UnencryptedInstanceVolume", "deploy/terraform/modules/compute/main.tf",
		"encrypted             = true", "encrypted             = false", "EBS volume must be encrypted"},
	{"PublicSubnetAssignsIPs", "deploy/terraform/modules/network/vpc.tf",
		"cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)\n  map_public_ip_on_launch = false",
		"cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)\n  map_public_ip_on_launch = true", "map_public_ip_on_launch must be false"},
	{"BucketPolicyMayBePublic", "deploy/terraform/modules/storage/main.tf",
		"block_public_policy     = true", "block_public_policy     = false", "public access must be fully blocked"},
	{"BucketAllowsPlainHTTP", "deploy/terraform/modules/storage/main.tf",
		"variable = \"aws:SecureTransport\"", "variable = \"aws:UserAgent\"", "aws:SecureTransport"},
	{"BucketSSES3", "deploy/terraform/modules/storage/main.tf",
		"sse_algorithm     = \"aws:kms\"", "sse_algorithm     = \"AES256\"", "default encryption must be aws:kms"},
	{"NoBucketKey", "deploy/terraform/modules/storage/main.tf",
		"bucket_key_enabled = true", "bucket_key_enabled = false", "bucket_key_enabled"},
	{"VersioningSuspended", "deploy/terraform/modules/storage/main.tf",
		"status = \"Enabled\"\n  }\n}", "status = \"Suspended\"\n  }\n}", "versioning must be Enabled"},
	{"MultipartNeverAborted", "deploy/terraform/modules/storage/main.tf",
		"abort_incomplete_multipart_upload {", "noncurrent_version_transition {", "abort incomplete multipart uploads"},
	{"KeyNotRotated", "deploy/terraform/modules/storage/main.tf",
		"enable_key_rotation     = true", "enable_key_rotation     = false", "enable_key_rotation must be true"},
	{"UnencryptedAlarmTopic", "deploy/terraform/modules/alarms/topic.tf",
		"kms_master_key_id = aws_kms_key.topic.arn", "kms_master_key_id = null", "kms_master_key_id must name a KMS key"},
	{"HealthCheckOnHealthz", "deploy/terraform/modules/load_balancer/main.tf",
		"path                = \"/readyz\"", "path                = \"/healthz\"", "health_check.path must be /readyz"},
	{"DeregistrationShorterThanShutdown", "deploy/terraform/modules/load_balancer/main.tf",
		"deregistration_delay = 30", "deregistration_delay = 20", "deregistration_delay must be between"},
	{"DeregistrationDefault300", "deploy/terraform/modules/load_balancer/main.tf",
		"deregistration_delay = 30", "deregistration_delay = 300", "deregistration_delay must be between"},
	{"HealthCheckSlowerThanDrain", "deploy/terraform/modules/load_balancer/main.tf",
		"interval            = 5", "interval            = 30", "within the drain delay"},
	{"IdleTimeoutAboveKeepAlive", "deploy/terraform/modules/load_balancer/main.tf",
		"idle_timeout               = 60", "idle_timeout               = 90", "idle_timeout must be set below"},
	{"OldTLSPolicy", "deploy/terraform/modules/load_balancer/main.tf",
		"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-2016-08", "ssl_policy must be one of"},
	{"HTTPServedInClear", "deploy/terraform/modules/load_balancer/main.tf",
		"type = \"redirect\"", "type = \"forward\"", "must only redirect to HTTPS"},
	{"EC2HealthChecks", "deploy/terraform/modules/compute/main.tf",
		"health_check_type         = \"ELB\"", "health_check_type         = \"EC2\"", "health_check_type must be ELB"},
	{"NoGracePeriod", "deploy/terraform/modules/compute/variables.tf",
		"default     = 120\n", "default     = 0\n", "health_check_grace_period must be set"},
	{"NoInstanceRefresh", "deploy/terraform/modules/compute/main.tf",
		"instance_refresh {", "warm_pool {", "instance_refresh must be configured"},
	{"NoRequestCountScaling", "deploy/terraform/modules/compute/main.tf",
		"\"ALBRequestCountPerTarget\"", "\"ASGAverageNetworkIn\"", "ALBRequestCountPerTarget"},
	{"StopTimeoutTooShort", "ami/files/switchboard.service",
		"\nTimeoutStopSec=45\n", "\nTimeoutStopSec=25\n", "TimeoutStopSec must be at least"},
	{"ServiceAsRoot", "ami/files/switchboard.service",
		"User=switchboard", "User=root", "dedicated unprivileged user"},
	{"WritableSystem", "ami/files/switchboard.service",
		"ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"},
	{"RecordingsOnWholeBucket", "deploy/terraform/modules/iam/main.tf",
		"resources = [\"${var.bucket_arn}/${var.s3_prefix}recordings/*\"]", "resources = [\"${var.bucket_arn}/*\"]", "limited to the recordings prefix"},
	{"KMSOnStar", "deploy/terraform/modules/iam/main.tf",
		"resources = [var.bucket_kms_key_arn]", "resources = [\"*\"]", "kms:Decrypt on \"*\""},
	{"WildcardAction", "deploy/terraform/modules/iam/main.tf",
		"actions   = [\"s3:ListBucket\"]", "actions   = [\"s3:*\"]", "wildcard action"},
	{"NoReplicaLagAlarm", "deploy/terraform/modules/alarms/database.tf",
		"metric_name         = \"ReplicaLag\"", "metric_name         = \"ReadLatency\"", "no alarm on ReplicaLag"},
	{"ReplicaLagWatchedFromRegionA", "deploy/terraform/examples/two-region/main.tf",
		"source    = \"../../modules/alarms\"\n  providers = { aws = aws.dr }",
		"source    = \"../../modules/alarms\"\n  providers = { aws = aws.primary }", "must be created in region B"},
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
