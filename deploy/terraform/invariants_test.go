// Package terraform holds no code: its tests check what `terraform test`
// (run by deploy/verify.sh against the provider's schema) cannot: that the
// deployment's timing agrees with the service's defaults in runtime/config.go,
// and the files Terraform does not read (the Packer template, the systemd
// unit, the CloudWatch agent's config) against Terraform and each other. The
// HCL is parsed without provider schemas, so no provider is needed.
// plancheck, a subpackage, is a command verify.sh runs on terraform test's
// plans.
package terraform

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"switchboard/handlers"
	"switchboard/runtime"
)

// timing is what the deployment must agree with; the runtime package's
// and the relay's defaults are the source of truth.
type timing struct {
	drain, shutdown, idle, write time.Duration
	// Streamed calls: how long a draining socket may finish its reply,
	// how long a drain without applicationReconnect waits for calls, and
	// how often a socket is pinged (traffic the ALB sees).
	relayTalk, relayCalls, relayPing time.Duration
}

var serviceTiming = timing{
	drain:      runtime.DefaultConfig().DrainDelay,
	shutdown:   runtime.DefaultConfig().ShutdownTimeout,
	idle:       runtime.DefaultConfig().IdleTimeout,
	write:      runtime.DefaultConfig().WriteTimeout,
	relayTalk:  relayDefaults().DrainTalkWait,
	relayCalls: relayDefaults().DrainCallWait,
	relayPing:  relayDefaults().PingInterval,
}

// relayDefaults are the relay settings with every default applied.
func relayDefaults() handlers.RelayConfig {
	var c handlers.RelayConfig
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic("the relay defaults do not parse: " + err.Error())
	}
	return c
}

// reconnectMargin is the time Twilio's reconnection through the ALB is
// given, after a draining socket closes, before the deregistration delay
// ends and the ALB would cut it anyway.
const reconnectMargin = 5 * time.Second

// examplesConfig is the example deployment's service settings, where
// LIFECYCLE_POLL_INTERVAL is set.
const examplesConfig = "deploy/terraform/examples/two-region/config.tf"

// stopMargin is what systemd's stop timeout must leave beyond drain and
// graceful shutdown for the workers to release their leases and the pool to
// close before SIGKILL.
const stopMargin = 10 * time.Second

// deregistrationSlack bounds how far the ALB's deregistration delay may
// exceed the longest request: longer only slows every deploy and scale-in.
const deregistrationSlack = 30 * time.Second

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
	settings, err := os.ReadFile(filepath.Join(root, examplesConfig))
	if err != nil {
		return nil, err
	}
	var p problems
	poll := lifecyclePoll(string(settings), &p)
	checkPacker(packer, &p)
	checkLoadBalancer(cfg, tm, poll, &p)
	checkUnit(unit, tm, &p)
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

// checkPacker: the AMI build requires IMDSv2, encrypts its gp3 root, and
// creates every directory a file provisioner uploads a directory into
// before it runs (Packer leaves an upload into a missing directory
// undefined: with scp every file lands on the same path).
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
	checkUploads(f, p)
}

// checkUploads walks the build's provisioners in order: a file provisioner
// whose source is a directory ("…/") needs an earlier shell provisioner
// that runs mkdir -p on its destination.
func checkUploads(f *hclFile, p *problems) {
	for _, b := range f.body.Blocks {
		if b.Type != "build" {
			continue
		}
		var made []string
		for _, prov := range (block{f, b}).nested("provisioner") {
			switch prov.b.Labels[0] {
			case "shell":
				for _, cmd := range prov.literalStrings("inline") {
					if dirs, ok := strings.CutPrefix(cmd, "mkdir -p "); ok {
						made = append(made, strings.Fields(dirs)...)
					}
				}
			case "file":
				src, dst := prov.text("source"), prov.str("destination")
				if !strings.HasSuffix(strings.Trim(src, `"`), "/") {
					continue
				}
				if !slices.Contains(made, strings.TrimSuffix(dst, "/")) {
					p.add("ami: the directory upload to %q needs an earlier shell provisioner running mkdir -p %s", dst, strings.TrimSuffix(dst, "/"))
				}
			}
		}
	}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// checkLoadBalancer holds the ALB's timing to the service's. It follows the
// ALB's real sequence:
//   - the service stops on its own (restart, failure): /readyz turns 503 and
//     the ALB stops routing to it at the latest interval ×
//     (unhealthy_threshold + 1) later, which the drain delay must cover;
//   - scale-in and instance refresh: the group deregisters the instance
//     first (no new requests), waits deregistration_delay for the requests
//     in flight (each bounded by the write timeout), then terminates it:
//     SIGTERM comes after deregistration.
//
// The idle timeout stays below the server's keep-alive, and above the
// relay's ping interval: a streamed call whose caller is silent still
// carries pings, so the ALB never closes it as idle.
//
// Streamed calls: the instance drains its sockets as soon as the target
// lifecycle state turns (polled every poll), each within the relay's talk
// wait, and Twilio reconnects through the ALB to another target; all of it
// must fit in the deregistration delay, after which the ALB would cut the
// sockets itself. No lifecycle hook is needed for that.
func checkLoadBalancer(cfg *tfConfig, tm timing, poll time.Duration, p *problems) {
	lbs := cfg.resources("aws_lb")
	if len(lbs) == 0 {
		p.add("no aws_lb")
	}
	for _, lb := range lbs {
		idle, ok := cfg.number(lb, "idle_timeout")
		if !ok || idle >= seconds(tm.idle) {
			p.add("%s: idle_timeout must be set below the service's idle timeout (%s)", lb.where(), tm.idle)
		}
		if !ok || idle <= seconds(tm.relayPing) {
			p.add("%s: idle_timeout must exceed the relay's ping interval (%s), or the ALB closes silent streamed calls", lb.where(), tm.relayPing)
		}
	}
	tgs := cfg.resources("aws_lb_target_group")
	if len(tgs) == 0 {
		p.add("no aws_lb_target_group")
	}
	for _, tg := range tgs {
		w := tg.where()
		hc, _ := tg.first("health_check")
		interval, iok := cfg.number(hc, "interval")
		unhealthy, uok := cfg.number(hc, "unhealthy_threshold")
		if !iok || !uok || interval*(unhealthy+1) > seconds(tm.drain) {
			p.add("%s: the ALB stops routing to a target interval × (unhealthy_threshold + 1) after /readyz fails; that must fit in the drain delay (%s)", w, tm.drain)
		}
		dereg, ok := cfg.number(tg, "deregistration_delay")
		lo := seconds(tm.write)
		if !ok || dereg < lo || dereg > lo+seconds(deregistrationSlack) {
			p.add("%s: deregistration_delay must cover the longest request in flight (the write timeout, %gs) and not exceed it by more than %s", w, lo, deregistrationSlack)
		}
		if move := poll + tm.relayTalk + time.Second + reconnectMargin; !ok || dereg < seconds(move) {
			p.add("%s: deregistration_delay must cover moving the streamed calls: lifecycle poll %s + talk wait %s + 1s + reconnection %s = %s",
				w, poll, tm.relayTalk, reconnectMargin, move)
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

// checkUnit: systemd waits for drain + shutdown + the streamed calls'
// wait + the workers before SIGKILL, and the service runs unprivileged in
// a read-only system.
func checkUnit(u unitFile, tm timing, p *problems) {
	stop, err := systemdDuration(u.last("TimeoutStopSec"))
	calls := max(tm.relayTalk+time.Second, tm.relayCalls)
	if want := tm.drain + tm.shutdown + calls + stopMargin; err != nil || stop < want {
		p.add("unit: TimeoutStopSec must be at least drain + shutdown + streamed calls (%s) + %s = %s (got %q)", calls, stopMargin, want, u.last("TimeoutStopSec"))
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

// lifecyclePoll reads LIFECYCLE_POLL_INTERVAL from the example
// deployment's settings: it must be set, or instances would drain their
// streamed calls only on SIGTERM, after the ALB has cut them.
func lifecyclePoll(settings string, p *problems) time.Duration {
	m := regexp.MustCompile(`(?m)^\s*LIFECYCLE_POLL_INTERVAL\s*=\s*"([^"]+)"`).FindStringSubmatch(settings)
	if m == nil {
		p.add("%s: LIFECYCLE_POLL_INTERVAL must be set, so instances drain streamed calls when the group takes them out", examplesConfig)
		return 0
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d <= 0 {
		p.add("%s: LIFECYCLE_POLL_INTERVAL %q is not a positive duration", examplesConfig, m[1])
		return 0
	}
	return d
}
