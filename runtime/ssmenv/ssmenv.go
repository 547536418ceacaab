// Package ssmenv loads switchboard's settings from an AWS Systems Manager
// Parameter Store path at start-up, into the environment map the
// configuration is then parsed from.
//
// Instances get their configuration this way so that the AMI needs no extra
// tooling and no secret is ever written to disk: the binary itself reads
// every parameter under CONFIG_SSM_PATH (SecureStrings decrypted in transit
// by SSM) before the environment is parsed into the config struct.
package ssmenv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// PathVariable names the environment variable holding the Parameter Store
// path, e.g. /switchboard/prod.
const PathVariable = "CONFIG_SSM_PATH"

// Client is the one SSM call Load makes; *ssm.Client satisfies it. It is
// kept this narrow so the instance role needs nothing beyond
// ssm:GetParametersByPath on the app's path.
type Client interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

var _ Client = (*ssm.Client)(nil)

// envName is what a POSIX shell accepts as a variable name; anything else
// could not be set reliably and is more likely a mistake in the path layout.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Load reads every parameter under path, recursively and decrypted, and
// returns them keyed by the last segment of each parameter's name
// (/switchboard/prod/DATABASE_URL → DATABASE_URL).
//
// It fails, naming the path, when SSM refuses the request (AccessDenied:
// the instance role lacks ssm:GetParametersByPath or kms:Decrypt), when a
// name is not a valid environment variable name, when two parameters at
// different depths map to the same name, and when the path holds no
// parameters at all, since a mistyped path would otherwise surface later as a
// confusing "missing setting" error.
func Load(ctx context.Context, client Client, path string) (map[string]string, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("ssmenv: %s %q must start with /", PathVariable, path)
	}
	in := &ssm.GetParametersByPathInput{
		Path:           aws.String(path),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(true),
	}
	values := make(map[string]string)
	from := make(map[string]string)
	p := ssm.NewGetParametersByPathPaginator(client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, describe(path, err)
		}
		for _, param := range out.Parameters {
			full := aws.ToString(param.Name)
			name := full[strings.LastIndex(full, "/")+1:]
			if !envName.MatchString(name) {
				return nil, fmt.Errorf("ssmenv: parameter %s under %s: %q is not a valid environment variable name", full, path, name)
			}
			if prev, ok := from[name]; ok {
				return nil, fmt.Errorf("ssmenv: parameters %s and %s under %s both set %s", prev, full, path, name)
			}
			from[name] = full
			values[name] = aws.ToString(param.Value)
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("ssmenv: no parameters under %s", path)
	}
	return values, nil
}

// describe wraps an SSM error with the path and, for the errors operators
// actually meet at boot, what to fix.
func describe(path string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDeniedException":
			return fmt.Errorf("ssmenv: access denied reading %s (the instance role needs ssm:GetParametersByPath on it and kms:Decrypt on its key): %w", path, err)
		case "InvalidKeyId":
			return fmt.Errorf("ssmenv: cannot decrypt a SecureString under %s (check the KMS key and the role's kms:Decrypt): %w", path, err)
		}
	}
	return fmt.Errorf("ssmenv: read parameters under %s: %w", path, err)
}

// Environment is the environment Apply reads and writes; Map makes one of
// the map cmd/switchboard parses its configuration from.
type Environment struct {
	Lookup func(key string) (string, bool)
	Set    func(key, value string) error
}

// Map is an Environment over m, which Apply fills in place.
func Map(m map[string]string) Environment {
	return Environment{
		Lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok },
		Set:    func(k, v string) error { m[k] = v; return nil },
	}
}

// Apply loads the parameters under CONFIG_SSM_PATH, when it is set, into env
// and returns the names it set, sorted, so start-up can log them (never the
// values). Without CONFIG_SSM_PATH it does nothing and never calls
// newClient, so local runs need no AWS configuration.
//
// A variable already present in the environment wins over the parameter of
// the same name: an operator can override one setting on an instance (for
// example in a systemd drop-in) without editing the shared path. Nothing is
// written to disk. The whole load is bounded by a 30 s deadline so a missing
// VPC endpoint or NAT shows up as a failed start (which systemd retries)
// rather than a hung one.
func Apply(ctx context.Context, env Environment, newClient func(context.Context) (Client, error)) ([]string, error) {
	path, ok := env.Lookup(PathVariable)
	if !ok || path == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	client, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("ssmenv: client for %s: %w", path, err)
	}
	values, err := Load(ctx, client, path)
	if err != nil {
		return nil, err
	}
	var set []string
	for name, value := range values {
		if _, present := env.Lookup(name); present {
			continue
		}
		if err := env.Set(name, value); err != nil {
			return nil, fmt.Errorf("ssmenv: set %s from %s: %w", name, path, err)
		}
		set = append(set, name)
	}
	sort.Strings(set)
	return set, nil
}
