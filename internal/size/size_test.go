package size

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "64MiB": 64 << 20, "64mib": 64 << 20, "1.5GiB": 3 << 29, "10G": 10 << 30,
		"2TB": 2e12, "512 KiB": 512 << 10, "7B": 7, " 3M ": 3 << 20,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MiB", "1e30GiB", "MiB"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
