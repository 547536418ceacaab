package outbound

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		addr string
		want Class
	}{
		// The instance metadata service, in every spelling that reaches it.
		{"169.254.169.254", Forbidden},
		{"::ffff:169.254.169.254", Forbidden},
		{"::ffff:a9fe:a9fe", Forbidden},
		{"::169.254.169.254", Forbidden},        // IPv4-compatible
		{"::ffff:0:a9fe:a9fe", Forbidden},       // IPv4-translated
		{"64:ff9b::169.254.169.254", Forbidden}, // NAT64
		{"2002:a9fe:a9fe::1", Forbidden},        // 6to4
		{"fd00:ec2::254", Forbidden},
		{"169.254.170.2", Forbidden}, // ECS task metadata
		{"100.100.100.200", Forbidden},
		{"fe80::1", Forbidden},
		{"fe80::1%eth0", Forbidden},
		// Unspecified, multicast, broadcast, reserved.
		{"0.0.0.0", Forbidden},
		{"0.1.2.3", Forbidden},
		{"::", Forbidden},
		{"::ffff:0.0.0.0", Forbidden},
		{"224.0.0.1", Forbidden},
		{"239.255.255.250", Forbidden},
		{"ff02::1", Forbidden},
		{"255.255.255.255", Forbidden},
		{"240.0.0.1", Forbidden},
		{"fec0::1", Forbidden},
		// Loopback and private ranges.
		{"127.0.0.1", Private},
		{"127.8.9.10", Private},
		{"::1", Private},
		{"::ffff:127.0.0.1", Private},
		{"10.1.2.3", Private},
		{"172.16.0.1", Private},
		{"172.31.255.254", Private},
		{"192.168.1.1", Private},
		{"::ffff:192.168.1.1", Private},
		{"100.64.0.1", Private},
		{"100.127.255.254", Private},
		{"fc00::1", Private},
		{"fd12:3456::1", Private},
		{"198.18.0.1", Private},
		{"192.0.2.1", Private},
		{"2001:db8::1", Private},
		{"64:ff9b::8.8.8.8", Private}, // a translator: inside the network
		{"64:ff9b:1::1", Private},
		{"2002:c0a8:0101::1", Private}, // 6to4 of 192.168.1.1
		{"::8.8.8.8", Private},
		// Public.
		{"8.8.8.8", Public},
		{"::ffff:8.8.8.8", Public},
		{"172.32.0.1", Public},
		{"100.128.0.1", Public},
		{"2606:4700:4700::1111", Public},
		{"2002:0808:0808::1", Public},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		if got := Classify(a); got != c.want {
			t.Errorf("Classify(%s) = %s, want %s", c.addr, got, c.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Forbidden {
		t.Errorf("Classify(invalid) = %s, want forbidden", got)
	}
}

func TestCheckAddrPolicy(t *testing.T) {
	for _, c := range []struct {
		addr         string
		allowPrivate bool
		refused      bool
	}{
		{"169.254.169.254", true, true},
		{"fd00:ec2::254", true, true},
		{"127.0.0.1", true, false},
		{"127.0.0.1", false, true},
		{"10.0.0.1", false, true},
		{"8.8.8.8", false, false},
	} {
		err := checkAddr(netip.MustParseAddr(c.addr), c.allowPrivate)
		if (err != nil) != c.refused {
			t.Errorf("checkAddr(%s, allowPrivate=%v) = %v, want refused=%v", c.addr, c.allowPrivate, err, c.refused)
		}
	}
}

func TestCheckHostNumericSpellings(t *testing.T) {
	for _, host := range []string{
		"2852039166",          // 169.254.169.254 in decimal
		"0xa9fea9fe",          // in hexadecimal
		"0251.0376.0251.0376", // in octal
		"0xa9.0xfe.0xa9.0xfe",
		"169.254.43518", // three parts
		"169.16690942",  // two parts
		"0x7f.1",
		"017700000001",
		"2852039166.",
	} {
		if err := checkHost(host); err == nil {
			t.Errorf("checkHost(%q) accepted a numeric spelling", host)
		}
	}
	for _, host := range []string{"example.com", "tools.example", "1password.com", "123.example", "169.254.169.254", "[::1]", "0x.example"} {
		if err := checkHost(host); err != nil {
			t.Errorf("checkHost(%q) = %v, want accepted (the dial-time check judges addresses)", host, err)
		}
	}
}
