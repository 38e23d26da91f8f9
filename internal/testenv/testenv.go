// Package testenv decides what a test does when the machine lacks something
// it needs (a usable /dev/fuse, a MinIO binary, Slurm): skip on a developer's
// machine, fail in CI. CI sets CI=true (or SYNCFS_TEST_DISALLOW_SKIP=1), and
// there a missing dependency must never pass silently as a skip.
package testenv

import (
	"os"
	"testing"
)

// SkipsAllowed reports whether tests may skip for a missing dependency.
func SkipsAllowed() bool {
	if v := os.Getenv("SYNCFS_TEST_DISALLOW_SKIP"); v != "" && v != "0" {
		return false
	}
	switch os.Getenv("CI") {
	case "", "0", "false":
		return true
	}
	return false
}

// Need skips (or, in CI, fails) the test when ok is false. what names the
// dependency and why says what is missing and how to get it.
func Need(t testing.TB, ok bool, what, why string) {
	t.Helper()
	if ok {
		return
	}
	if SkipsAllowed() {
		t.Skipf("%s unavailable: %s", what, why)
	}
	t.Fatalf("%s unavailable in CI (skips are not allowed here): %s", what, why)
}
