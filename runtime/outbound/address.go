package outbound

import (
	"fmt"
	"net/netip"
	"strings"
)

// Class says why an address may or may not be dialled.
type Class int

const (
	// Public is a global unicast address: always allowed.
	Public Class = iota
	// Private is loopback, RFC 1918, CGNAT, unique-local and other
	// non-global ranges: allowed only with AllowPrivate (development).
	Private
	// Forbidden is never dialled: link-local (where the instance metadata
	// service lives), the metadata addresses themselves, unspecified,
	// multicast, broadcast and reserved ranges.
	Forbidden
)

// String names the class in refusals and logs.
func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Private:
		return "private"
	default:
		return "forbidden"
	}
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// forbidden4 and forbidden6 are never dialled, whatever the configuration.
var (
	forbidden4 = mustPrefixes(
		"0.0.0.0/8",          // "this network"; 0.0.0.0 reaches the local host on Linux
		"169.254.0.0/16",     // link-local: the instance metadata service (169.254.169.254), ECS task metadata (169.254.170.2)
		"224.0.0.0/4",        // multicast
		"240.0.0.0/4",        // reserved, and 255.255.255.255 broadcast
		"100.100.100.200/32", // Alibaba Cloud's metadata service, inside CGNAT space
		"192.0.0.192/32",     // Oracle Cloud's legacy metadata address
	)
	forbidden6 = mustPrefixes(
		"::/128",            // unspecified
		"fe80::/10",         // link-local
		"ff00::/8",          // multicast
		"fd00:ec2::254/128", // the EC2 instance metadata service over IPv6 (inside fc00::/7)
		"fec0::/10",         // deprecated site-local
	)
	private4 = mustPrefixes(
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"127.0.0.0/8",     // loopback
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
	)
	private6 = mustPrefixes(
		"::1/128",       // loopback
		"fc00::/7",      // unique local
		"100::/64",      // discard
		"2001:db8::/32", // documentation
		"2001::/23",     // IETF protocol assignments (Teredo, ORCHIDs…)
	)
	// Prefixes whose addresses carry an IPv4 address: judged by it, so an
	// IPv6 spelling of 169.254.169.254 is as forbidden as the address.
	nat64      = mustPrefixes("64:ff9b::/96", "64:ff9b:1::/48")
	sixToFor   = netip.MustParsePrefix("2002::/16")
	compat     = netip.MustParsePrefix("::/96")           // deprecated IPv4-compatible addresses
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT IPv4-translated addresses (RFC 2765)
)

// Classify says whether a may be dialled. IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible, NAT64 and 6to4 addresses are judged by the IPv4 address
// they carry; a zone is ignored.
func Classify(a netip.Addr) Class {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return Forbidden
	}
	if a.Is4() {
		return classify4(a)
	}
	for _, p := range forbidden6 {
		if p.Contains(a) {
			return Forbidden
		}
	}
	b := a.As16()
	switch {
	case a == netip.IPv6Loopback():
		return Private
	case compat.Contains(a), translated.Contains(a):
		return worse(Private, classify4(netip.AddrFrom4([4]byte(b[12:16]))))
	case nat64[0].Contains(a):
		return worse(Private, classify4(netip.AddrFrom4([4]byte(b[12:16]))))
	case nat64[1].Contains(a):
		// RFC 8215 local-use prefix: the IPv4 address may sit at any of
		// several offsets, so the whole prefix is private.
		return Private
	case sixToFor.Contains(a):
		return worse(Public, classify4(netip.AddrFrom4([4]byte(b[2:6]))))
	}
	for _, p := range private6 {
		if p.Contains(a) {
			return Private
		}
	}
	if !a.IsGlobalUnicast() {
		return Forbidden
	}
	return Public
}

func classify4(a netip.Addr) Class {
	for _, p := range forbidden4 {
		if p.Contains(a) {
			return Forbidden
		}
	}
	for _, p := range private4 {
		if p.Contains(a) {
			return Private
		}
	}
	return Public
}

func worse(a, b Class) Class {
	return max(a, b)
}

// RefusedError is a target the client will not dial.
type RefusedError struct {
	Target string // the address or host refused
	Class  Class
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound: refusing %s: %s", e.Target, e.Reason)
}

// checkAddr refuses an address the configuration does not allow.
func checkAddr(a netip.Addr, allowPrivate bool) error {
	switch c := Classify(a); {
	case c == Forbidden:
		return &RefusedError{Target: a.String(), Class: c, Reason: "link-local, metadata, multicast, broadcast or reserved address"}
	case c == Private && !allowPrivate:
		return &RefusedError{Target: a.String(), Class: c, Reason: "loopback or private address (OUTBOUND_ALLOW_PRIVATE is off)"}
	}
	return nil
}

// checkHost refuses host spellings that resolvers disagree on: IPv4
// written in decimal, octal or hexadecimal (2852039166, 0251.0376.0251.0376,
// 0xa9fea9fe) or with fewer than four parts. Some resolvers (inet_aton in
// glibc) read them as addresses, others as names; the dial-time check would
// still catch the address, but such a URL is refused outright so it never
// depends on which resolver runs.
func checkHost(host string) error {
	if host == "" {
		return &RefusedError{Target: host, Class: Forbidden, Reason: "no host"}
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil
	}
	if looksNumeric(host) {
		return &RefusedError{Target: host, Class: Forbidden, Reason: "a numeric host that is not a dotted-decimal IPv4 address"}
	}
	return nil
}

// looksNumeric reports whether every dot-separated label of host is a
// number in decimal, octal (leading 0) or hexadecimal (0x): how inet_aton
// reads an IPv4 address. Real names always have a non-numeric label.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	for label := range strings.SplitSeq(host, ".") {
		if label == "" {
			return false
		}
		l := strings.ToLower(label)
		digits := "0123456789"
		if strings.HasPrefix(l, "0x") {
			l, digits = l[2:], "0123456789abcdef"
		}
		if strings.Trim(l, digits) != "" {
			return false
		}
	}
	return true
}
