// Package size parses the byte sizes users give on the command line
// (--cache-size 10GiB, the fake solver's --size 64MiB) and prints them:
// one parser and one printer, so that every command accepts and shows the
// same spellings.
package size

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a size: a number (fractions allowed) with an optional unit,
// binary (KiB, MiB, GiB, TiB, and K, M, G, T for them) or decimal (KB, MB,
// GB, TB), in any case; no unit or B is bytes.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q (want e.g. 10GiB, 512MiB, 4096)", s)
	}
	return int64(v * float64(mult)), nil
}

// Format prints n in binary units with one decimal: "512 B", "1.5 MiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
