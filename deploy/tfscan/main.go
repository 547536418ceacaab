// Command tfscan runs Trivy's Terraform misconfiguration scanner, with the
// checks embedded in the pinned Trivy module, over the directories it is
// given, offline. It is `trivy config` for Terraform without the rest of the
// Trivy CLI (images, SBOMs, Kubernetes), which takes several times as long
// to build on a clean machine. Inline `#trivy:ignore:<ID> <reason>` comments
// are honoured as by trivy.
//
// Usage (deploy/verify.sh runs it; Trivy needs GOEXPERIMENT=jsonv2):
//
//	GOEXPERIMENT=jsonv2 go run . DIR...
//
// It prints every failed check and exits 1 if there is any, 2 on an error.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/aquasecurity/trivy/pkg/iac/rego"
	"github.com/aquasecurity/trivy/pkg/iac/scan"
	"github.com/aquasecurity/trivy/pkg/iac/scanners/terraform"
	"github.com/aquasecurity/trivy/pkg/log"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tfscan DIR...")
		os.Exit(2)
	}
	log.InitLogger(false, true)
	failed, ignored := 0, 0
	for _, dir := range os.Args[1:] {
		f, i, err := scanDir(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tfscan: %s: %v\n", dir, err)
			os.Exit(2)
		}
		failed += f
		ignored += i
	}
	fmt.Printf("tfscan: %d failed, %d ignored inline\n", failed, ignored)
	if failed > 0 {
		os.Exit(1)
	}
}

// scanDir scans one directory tree and prints its failures; it returns how
// many checks failed and how many failures were ignored inline.
func scanDir(dir string) (failed, ignored int, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, 0, err
	}
	s := terraform.New(
		rego.WithEmbeddedPolicies(true),
		rego.WithEmbeddedLibraries(true),
		terraform.ScannerWithAllDirectories(true),
		terraform.ScannerWithDownloadsAllowed(false),
	)
	results, err := s.ScanFS(context.Background(), os.DirFS(abs), ".")
	if err != nil {
		return 0, 0, err
	}
	fails := results.GetFailed()
	sort.SliceStable(fails, func(i, j int) bool { return location(fails[i]) < location(fails[j]) })
	seen := map[string]bool{}
	for _, r := range fails {
		// A module scanned as its own root and as the example's child
		// reports the same line twice.
		key := location(r) + " " + r.Rule().ID
		if seen[key] {
			continue
		}
		seen[key] = true
		failed++
		rule := r.Rule()
		fmt.Printf("%s: %s %s %s\n    %s\n    fix: %s\n", filepath.Join(dir, location(r)), rule.ID, r.Severity(), rule.Summary, r.Description(), rule.Resolution)
	}
	return failed, len(results.GetIgnored()), nil
}

// location is a result's file:line within the scanned tree.
func location(r scan.Result) string {
	rg := r.Range()
	return fmt.Sprintf("%s:%d", rg.GetFilename(), rg.GetStartLine())
}
