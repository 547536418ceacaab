// Package terraform holds no code: its tests read deploy/terraform and ami/
// as written (HCL parsed without provider schemas, so no registry access is
// needed) and check the deployment's security and consistency invariants,
// with the service's timing taken from the runtime package.
package terraform

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/runtime"
)

// timing is what the deployment must agree with; the runtime package's
// defaults are the source of truth.
type timing struct {
	drain, shutdown, idle time.Duration
}

var serviceTiming = timing{
	drain:    runtime.DefaultConfig().DrainDelay,
	shutdown: runtime.DefaultConfig().ShutdownTimeout,
	idle:     runtime.DefaultConfig().IdleTimeout,
}

// stopMargin is what systemd's stop timeout must leave beyond drain and
// graceful shutdown for the workers to release their leases and the pool to
// close before SIGKILL.
const stopMargin = 10 * time.Second

// deregistrationSlack bounds how far the ALB's deregistration delay may
// exceed drain + shutdown: longer only slows every deploy and scale-in.
const deregistrationSlack = 30 * time.Second

// modernTLSPolicies are the ALB policies accepted: TLS 1.3 and 1.2 only,
// forward-secret ciphers.
var modernTLSPolicies = []string{
	"ELBSecurityPolicy-TLS13-1-2-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
}

// unscopedActions support no resource-level permissions in IAM, so "*" is
// the only resource they can have.
var unscopedActions = []string{
	"cloudwatch:PutMetricData",
	"ec2:DescribeTags",
	"ssmmessages:CreateControlChannel",
	"ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
}

// problems collects invariant violations.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkDeployment checks the invariants of the deployment rooted at root
// (a directory holding deploy/terraform and ami, as the repository does) and
// returns every violation.
func checkDeployment(root string, tm timing) ([]string, error) {
	cfg, err := loadTerraform(filepath.Join(root, "deploy", "terraform"))
	if err != nil {
		return nil, err
	}
	unit, err := readUnit(filepath.Join(root, "ami", "files", "switchboard.service"))
	if err != nil {
		return nil, err
	}
	packer, err := parseHCL(filepath.Join(root, "ami", "switchboard.pkr.hcl"))
	if err != nil {
		return nil, err
	}
	agent, err := readAgentConfig(filepath.Join(root, "ami", "files", "amazon-cloudwatch-agent.json"))
	if err != nil {
		return nil, err
	}
	var p problems
	checkDatabase(cfg, &p)
	checkReplica(cfg, &p)
	checkInstances(cfg, &p)
	checkPacker(packer, &p)
	checkBucket(cfg, &p)
	checkEncryption(cfg, &p)
	checkLoadBalancer(cfg, tm, &p)
	checkAutoScaling(cfg, &p)
	checkUnit(unit, tm, &p)
	checkIAM(cfg, &p)
	checkAlarms(cfg, &p)
	checkAgent(cfg, agent, &p)
	return p, nil
}

func TestDeploymentInvariants(t *testing.T) {
	got, err := checkDeployment(filepath.Join("..", ".."), serviceTiming)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		t.Error(p)
	}
}

// checkDatabase: every database is private, encrypted with a KMS key,
// backed up, protected, IAM-authenticated, autoscaled, observed and TLS-only.
func checkDatabase(cfg *tfConfig, p *problems) {
	dbs := cfg.resources("aws_db_instance")
	if len(dbs) == 0 {
		p.add("no aws_db_instance")
	}
	for _, db := range dbs {
		w := db.where()
		if !db.isFalse("publicly_accessible") {
			p.add("%s: publicly_accessible must be false", w)
		}
		if !db.isTrue("storage_encrypted") {
			p.add("%s: storage_encrypted must be true", w)
		}
		if typ, _, ok := reference(db.text("kms_key_id")); !ok || typ != "aws_kms_key" {
			p.add("%s: kms_key_id must reference a customer managed aws_kms_key", w)
		}
		if !db.isTrue("deletion_protection") {
			p.add("%s: deletion_protection must be true", w)
		}
		if !db.isTrue("iam_database_authentication_enabled") {
			p.add("%s: iam_database_authentication_enabled must be true", w)
		}
		if !db.isTrue("performance_insights_enabled") || db.text("performance_insights_kms_key_id") == "" {
			p.add("%s: Performance Insights must be on and encrypted with a KMS key", w)
		}
		if days, ok := cfg.number(db, "backup_retention_period"); !ok || days < 7 {
			p.add("%s: backup_retention_period must be at least 7 days", w)
		}
		if db.text("max_allocated_storage") == "" {
			p.add("%s: max_allocated_storage (storage autoscaling) must be set", w)
		}
		pgTyp, pgName, ok := reference(db.text("parameter_group_name"))
		if !ok || pgTyp != "aws_db_parameter_group" {
			p.add("%s: parameter_group_name must reference an aws_db_parameter_group", w)
			continue
		}
		pg, ok := cfg.find(db, "resource", pgTyp, pgName)
		if !ok || !forcesSSL(pg) {
			p.add("%s: parameter group %s must set rds.force_ssl = 1", w, pgName)
		}
	}
}

func forcesSSL(pg block) bool {
	for _, param := range pg.nested("parameter") {
		if param.str("name") == "rds.force_ssl" && param.str("value") == "1" {
			return true
		}
	}
	return false
}

// checkReplica: a cross-region replica exists in region B (provider
// aws.dr) with its own KMS key, subnet group and parameter group there.
func checkReplica(cfg *tfConfig, p *problems) {
	var replicas []block
	for _, db := range cfg.resources("aws_db_instance") {
		if db.text("replicate_source_db") != "" {
			replicas = append(replicas, db)
		}
	}
	if len(replicas) == 0 {
		p.add("no cross-region read replica (aws_db_instance with replicate_source_db)")
	}
	for _, r := range replicas {
		w := r.where()
		if r.text("provider") != "aws.dr" {
			p.add("%s: the replica must be declared with provider aws.dr (region B)", w)
		}
		for attr, typ := range map[string]string{
			"kms_key_id":           "aws_kms_key",
			"parameter_group_name": "aws_db_parameter_group",
			"db_subnet_group_name": "aws_db_subnet_group",
		} {
			refTyp, name, ok := reference(r.text(attr))
			dep, found := cfg.find(r, "resource", refTyp, name)
			if !ok || refTyp != typ || !found || dep.text("provider") != "aws.dr" {
				p.add("%s: %s must reference an %s of its own in region B (provider aws.dr)", w, attr, typ)
			}
		}
	}
}

// checkInstances: instances only from launch templates, IMDSv2 only, no
// public IP, an instance profile, encrypted volumes; no subnet hands out
// public IPs.
func checkInstances(cfg *tfConfig, p *problems) {
	for _, i := range cfg.resources("aws_instance") {
		p.add("%s: instances come from the Auto Scaling group's launch template only", i.where())
	}
	lts := cfg.resources("aws_launch_template")
	if len(lts) == 0 {
		p.add("no aws_launch_template")
	}
	for _, lt := range lts {
		w := lt.where()
		if md, ok := lt.first("metadata_options"); !ok || md.str("http_tokens") != "required" {
			p.add("%s: metadata_options.http_tokens must be \"required\" (IMDSv2)", w)
		}
		nics := lt.nested("network_interfaces")
		if len(nics) == 0 {
			p.add("%s: network_interfaces must set associate_public_ip_address = false", w)
		}
		for _, nic := range nics {
			if !nic.isFalse("associate_public_ip_address") {
				p.add("%s: associate_public_ip_address must be false", w)
			}
		}
		if _, ok := lt.first("iam_instance_profile"); !ok {
			p.add("%s: iam_instance_profile must be set", w)
		}
		for _, bdm := range lt.nested("block_device_mappings") {
			if ebs, ok := bdm.first("ebs"); !ok || !ebs.isTrue("encrypted") {
				p.add("%s: every EBS volume must be encrypted", w)
			}
		}
	}
	for _, s := range cfg.resources("aws_subnet") {
		if !s.isFalse("map_public_ip_on_launch") {
			p.add("%s: map_public_ip_on_launch must be false", s.where())
		}
	}
}

// checkPacker: the AMI build requires IMDSv2 and encrypts its gp3 root.
func checkPacker(f *hclFile, p *problems) {
	var src []block
	for _, b := range f.body.Blocks {
		if b.Type == "source" && len(b.Labels) == 2 && b.Labels[0] == "amazon-ebs" {
			src = append(src, block{f, b})
		}
	}
	if len(src) == 0 {
		p.add("ami: no amazon-ebs source")
	}
	for _, s := range src {
		if md, ok := s.first("metadata_options"); !ok || md.str("http_tokens") != "required" {
			p.add("ami: metadata_options.http_tokens must be \"required\"")
		}
		if s.str("imds_support") != "v2.0" {
			p.add("ami: imds_support must be \"v2.0\" so instances default to IMDSv2")
		}
		if !s.isTrue("encrypt_boot") {
			p.add("ami: encrypt_boot must be true")
		}
		for _, bdm := range s.nested("launch_block_device_mappings") {
			if !bdm.isTrue("encrypted") || bdm.str("volume_type") != "gp3" {
				p.add("ami: the root volume must be encrypted gp3")
			}
		}
	}
}

// bucketSettings returns the resources of typ whose bucket attribute
// references the bucket b.
func bucketSettings(cfg *tfConfig, b block, typ string) []block {
	var out []block
	for _, r := range cfg.resources(typ) {
		if filepath.Dir(r.file.path) == filepath.Dir(b.file.path) &&
			strings.HasPrefix(r.text("bucket"), "aws_s3_bucket."+b.b.Labels[1]+".") {
			out = append(out, r)
		}
	}
	return out
}

// checkBucket: every bucket blocks public access, is TLS-only, uses SSE-KMS
// with a bucket key, keeps versions and has the lifecycle rules.
func checkBucket(cfg *tfConfig, p *problems) {
	buckets := cfg.resources("aws_s3_bucket")
	if len(buckets) == 0 {
		p.add("no aws_s3_bucket")
	}
	for _, b := range buckets {
		w := b.where()
		pab := bucketSettings(cfg, b, "aws_s3_bucket_public_access_block")
		blocked := len(pab) == 1
		for _, attr := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			blocked = blocked && pab[0].isTrue(attr)
		}
		if !blocked {
			p.add("%s: public access must be fully blocked (all four settings true)", w)
		}

		sseOK := false
		for _, sse := range bucketSettings(cfg, b, "aws_s3_bucket_server_side_encryption_configuration") {
			for _, rule := range sse.nested("rule") {
				def, ok := rule.first("apply_server_side_encryption_by_default")
				typ, _, isRef := reference(def.text("kms_master_key_id"))
				sseOK = sseOK || (ok && def.str("sse_algorithm") == "aws:kms" && isRef && typ == "aws_kms_key" && rule.isTrue("bucket_key_enabled"))
			}
		}
		if !sseOK {
			p.add("%s: default encryption must be aws:kms with a customer managed key and bucket_key_enabled", w)
		}

		versioned := false
		for _, v := range bucketSettings(cfg, b, "aws_s3_bucket_versioning") {
			if vc, ok := v.first("versioning_configuration"); ok && vc.str("status") == "Enabled" {
				versioned = true
			}
		}
		if !versioned {
			p.add("%s: versioning must be Enabled", w)
		}

		ia, abort := false, false
		for _, lc := range bucketSettings(cfg, b, "aws_s3_bucket_lifecycle_configuration") {
			for _, rule := range lc.nested("rule") {
				for _, tr := range rule.nested("transition") {
					ia = ia || tr.str("storage_class") == "STANDARD_IA"
				}
				_, has := rule.first("abort_incomplete_multipart_upload")
				abort = abort || has
			}
		}
		if !ia || !abort {
			p.add("%s: lifecycle must move objects to STANDARD_IA and abort incomplete multipart uploads", w)
		}

		tlsOnly := false
		for _, pol := range bucketSettings(cfg, b, "aws_s3_bucket_policy") {
			doc := strings.TrimSuffix(pol.text("policy"), ".json")
			_, name, ok := strings.Cut(doc, "data.aws_iam_policy_document.")
			if d, found := cfg.find(pol, "data", "aws_iam_policy_document", name); ok && found {
				tlsOnly = tlsOnly || deniesInsecureTransport(d)
			}
		}
		if !tlsOnly {
			p.add("%s: the bucket policy must deny requests with aws:SecureTransport = false", w)
		}
	}
}

func deniesInsecureTransport(doc block) bool {
	for _, st := range doc.nested("statement") {
		if st.str("effect") != "Deny" {
			continue
		}
		for _, c := range st.nested("condition") {
			if c.str("test") == "Bool" && c.str("variable") == "aws:SecureTransport" && slices.Equal(c.literalStrings("values"), []string{"false"}) {
				return true
			}
		}
	}
	return false
}

// checkEncryption: KMS keys rotate; logs and notifications are encrypted.
func checkEncryption(cfg *tfConfig, p *problems) {
	for _, k := range cfg.resources("aws_kms_key") {
		if !k.isTrue("enable_key_rotation") {
			p.add("%s: enable_key_rotation must be true", k.where())
		}
	}
	for _, typ := range []struct{ resource, attr string }{
		{"aws_cloudwatch_log_group", "kms_key_id"},
		{"aws_sns_topic", "kms_master_key_id"},
	} {
		for _, r := range cfg.resources(typ.resource) {
			if t := r.text(typ.attr); t == "" || t == "null" {
				p.add("%s: %s must name a KMS key", r.where(), typ.attr)
			}
		}
	}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// checkLoadBalancer: HTTPS with a modern policy, HTTP redirected, /readyz
// health checks that notice a drain in time, a deregistration delay that
// covers drain + shutdown, an idle timeout below the server's keep-alive.
func checkLoadBalancer(cfg *tfConfig, tm timing, p *problems) {
	for _, lb := range cfg.resources("aws_lb") {
		w := lb.where()
		idle, ok := cfg.number(lb, "idle_timeout")
		if !ok || idle >= seconds(tm.idle) {
			p.add("%s: idle_timeout must be set below the service's idle timeout (%s)", w, tm.idle)
		}
		if !lb.isTrue("drop_invalid_header_fields") {
			p.add("%s: drop_invalid_header_fields must be true", w)
		}
	}
	tgs := cfg.resources("aws_lb_target_group")
	if len(tgs) == 0 {
		p.add("no aws_lb_target_group")
	}
	for _, tg := range tgs {
		w := tg.where()
		hc, ok := tg.first("health_check")
		if !ok || hc.str("path") != "/readyz" {
			p.add("%s: health_check.path must be /readyz", w)
		}
		interval, iok := cfg.number(hc, "interval")
		unhealthy, uok := cfg.number(hc, "unhealthy_threshold")
		if !iok || !uok || interval*unhealthy > seconds(tm.drain) {
			p.add("%s: health checks must see /readyz fail within the drain delay (%s): interval × unhealthy_threshold", w, tm.drain)
		}
		dereg, ok := cfg.number(tg, "deregistration_delay")
		lo := seconds(tm.drain + tm.shutdown)
		if !ok || dereg < lo || dereg > lo+seconds(deregistrationSlack) {
			p.add("%s: deregistration_delay must be between drain + shutdown (%gs) and %gs", w, lo, lo+seconds(deregistrationSlack))
		}
	}
	https, redirect := 0, 0
	for _, l := range cfg.resources("aws_lb_listener") {
		w := l.where()
		switch l.str("protocol") {
		case "HTTPS":
			https++
			if !slices.Contains(modernTLSPolicies, l.str("ssl_policy")) {
				p.add("%s: ssl_policy must be one of %v", w, modernTLSPolicies)
			}
			if l.text("certificate_arn") == "" {
				p.add("%s: certificate_arn must be set", w)
			}
		case "HTTP":
			act, _ := l.first("default_action")
			rd, ok := act.first("redirect")
			if act.str("type") != "redirect" || !ok || rd.str("protocol") != "HTTPS" {
				p.add("%s: the HTTP listener must only redirect to HTTPS", w)
			} else {
				redirect++
			}
		default:
			p.add("%s: listener protocol must be HTTPS or HTTP", w)
		}
	}
	if https == 0 || redirect == 0 {
		p.add("need an HTTPS listener and an HTTP→HTTPS redirect")
	}
}

// checkAutoScaling: ELB health checks with a grace period, rolling instance
// refresh, target tracking on requests per target and on CPU.
func checkAutoScaling(cfg *tfConfig, p *problems) {
	asgs := cfg.resources("aws_autoscaling_group")
	if len(asgs) == 0 {
		p.add("no aws_autoscaling_group")
	}
	for _, asg := range asgs {
		w := asg.where()
		if asg.str("health_check_type") != "ELB" {
			p.add("%s: health_check_type must be ELB", w)
		}
		if grace, ok := cfg.number(asg, "health_check_grace_period"); !ok || grace <= 0 {
			p.add("%s: health_check_grace_period must be set explicitly (> 0)", w)
		}
		if _, ok := asg.first("instance_refresh"); !ok {
			p.add("%s: instance_refresh must be configured for rolling AMI updates", w)
		}
	}
	metrics := map[string]bool{}
	for _, pol := range cfg.resources("aws_autoscaling_policy") {
		ttc, _ := pol.first("target_tracking_configuration")
		pm, _ := ttc.first("predefined_metric_specification")
		metrics[pm.str("predefined_metric_type")] = true
	}
	for _, m := range []string{"ALBRequestCountPerTarget", "ASGAverageCPUUtilization"} {
		if !metrics[m] {
			p.add("no target tracking policy on %s", m)
		}
	}
}

// unitFile is a systemd unit's settings, key → values in order.
type unitFile map[string][]string

func readUnit(path string) (unitFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unitFile{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: not a setting: %q", path, line)
		}
		u[k] = append(u[k], v)
	}
	return u, sc.Err()
}

func (u unitFile) last(key string) string {
	v := u[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// checkUnit: systemd waits for drain + shutdown + the workers before
// SIGKILL, and the service runs unprivileged in a read-only system.
func checkUnit(u unitFile, tm timing, p *problems) {
	stop, err := systemdDuration(u.last("TimeoutStopSec"))
	if want := tm.drain + tm.shutdown + stopMargin; err != nil || stop < want {
		p.add("unit: TimeoutStopSec must be at least drain + shutdown + %s = %s (got %q)", stopMargin, want, u.last("TimeoutStopSec"))
	}
	want := map[string]string{
		"KillSignal":              "SIGTERM",
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	}
	for k, v := range want {
		if got, ok := u[k]; !ok || u.last(k) != v {
			p.add("unit: %s must be %q (got %q)", k, v, got)
		}
	}
	if !slices.Contains(u["SystemCallFilter"], "@system-service") {
		p.add("unit: SystemCallFilter must allow only @system-service")
	}
	if user := u.last("User"); user == "" || user == "root" {
		p.add("unit: User must be a dedicated unprivileged user")
	}
}

// systemdDuration reads a systemd time span: bare seconds ("45") or units
// ("1min 30s").
func systemdDuration(raw string) (time.Duration, error) {
	raw = strings.ReplaceAll(raw, " ", "")
	if raw == "" {
		return 0, fmt.Errorf("empty time span")
	}
	if strings.Trim(raw, "0123456789") == "" {
		raw += "s"
	}
	raw = strings.NewReplacer("min", "m", "sec", "s", "msec", "ms").Replace(raw)
	return time.ParseDuration(raw)
}

// checkIAM: identity policies grant no action on "*" when the action can be
// scoped, use no wildcard actions, and reach the bucket's recordings only.
func checkIAM(cfg *tfConfig, p *problems) {
	for _, doc := range cfg.blocks("data", "aws_iam_policy_document") {
		for _, st := range doc.nested("statement") {
			if _, resourcePolicy := st.first("principals"); resourcePolicy || st.str("effect") == "Deny" {
				continue // key and bucket policies: "*" there is the resource itself
			}
			w := doc.where()
			actions := st.literalStrings("actions")
			items, _ := st.listItems("actions")
			if len(actions) != len(items) {
				p.add("%s: actions must be literal strings so they can be reviewed", w)
			}
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					p.add("%s: wildcard action %q", w, a)
				}
				if strings.HasPrefix(a, "s3:") && strings.HasSuffix(a, "Object") {
					for _, r := range resourceTexts(st) {
						if !strings.HasSuffix(r, `recordings/*"`) {
							p.add("%s: %s must be limited to the recordings prefix, not %s", w, a, r)
						}
					}
				}
			}
			if slices.Contains(st.literalStrings("resources"), "*") {
				for _, a := range actions {
					if !slices.Contains(unscopedActions, a) {
						p.add("%s: %s on \"*\" although it can be scoped to a resource", w, a)
					}
				}
			}
		}
	}
}

func resourceTexts(st block) []string {
	items, _ := st.listItems("resources")
	var out []string
	for _, e := range items {
		out = append(out, strings.TrimSpace(string(e.Range().SliceBytes(st.file.src))))
	}
	return out
}

// checkAlarms: the alarms the issue lists exist, and the replica-lag alarm
// is created in region B.
func checkAlarms(cfg *tfConfig, p *problems) {
	metrics := map[string]bool{}
	for _, a := range cfg.resources("aws_cloudwatch_metric_alarm") {
		metrics[a.str("metric_name")] = true
	}
	for _, m := range []string{
		"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "TargetResponseTime", "UnHealthyHostCount",
		"CPUUtilization", "FreeStorageSpace", "DatabaseConnections", "ReplicaLag",
	} {
		if !metrics[m] {
			p.add("no alarm on %s", m)
		}
	}
	replicaWatched := false
	for _, m := range cfg.blocks("module", "") {
		if !strings.HasSuffix(m.str("source"), "modules/alarms") {
			continue
		}
		if _, ok := m.expr("replica"); ok {
			replicaWatched = true
			if !strings.Contains(m.text("providers"), "aws.dr") {
				p.add("%s: the replica-lag alarms must be created in region B (providers = { aws = aws.dr })", m.where())
			}
		}
	}
	if !replicaWatched {
		p.add("no alarms module watches the replica")
	}
}

// agentConfig is the part of the CloudWatch agent config Terraform must
// agree with.
type agentConfig struct {
	logGroups []string
	namespace string
}

func readAgentConfig(path string) (agentConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return agentConfig{}, err
	}
	var doc struct {
		Logs struct {
			LogsCollected struct {
				Files struct {
					CollectList []struct {
						LogGroupName string `json:"log_group_name"`
					} `json:"collect_list"`
				} `json:"files"`
			} `json:"logs_collected"`
		} `json:"logs"`
		Metrics struct {
			Namespace string `json:"namespace"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return agentConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	var c agentConfig
	for _, e := range doc.Logs.LogsCollected.Files.CollectList {
		c.logGroups = append(c.logGroups, e.LogGroupName)
	}
	c.namespace = doc.Metrics.Namespace
	return c, nil
}

// checkAgent: the log group the agent writes to is the one Terraform
// creates and the role may write; the metric namespace is the one the role
// may publish to.
func checkAgent(cfg *tfConfig, agent agentConfig, p *problems) {
	if len(agent.logGroups) == 0 {
		p.add("agent: ships no log file")
	}
	for _, v := range cfg.blocks("variable", "") {
		name := v.b.Labels[0]
		def := v.str("default")
		switch {
		case name == "log_group_name" && !slices.Contains(agent.logGroups, def):
			p.add("%s: default %q is not the agent's log group %v", v.where(), def, agent.logGroups)
		case name == "metrics_namespace" && def != agent.namespace:
			p.add("%s: default %q is not the agent's namespace %q", v.where(), def, agent.namespace)
		}
	}
}
