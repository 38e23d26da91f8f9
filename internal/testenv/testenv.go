// Package testenv decides what a test does when the machine lacks something
// it needs (a usable /dev/fuse, a MinIO binary, Slurm): skip on a developer's
// machine, fail in CI. CI sets CI=true (or SYNCFS_TEST_DISALLOW_SKIP=1), and
// there a missing dependency must never pass silently as a skip.
package testenv

import (
	"os"
	"os/exec"
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

// FUSE reports whether this process can mount: /dev/fuse opens, and as
// non-root fusermount3 is there. why says what is missing and how to get
// it. The one probe every mounting test uses.
func FUSE() (ok bool, why string) {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return false, "cannot open /dev/fuse: " + err.Error()
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return false, "not root and no fusermount3 (apt-get install fuse3)"
		}
	}
	return true, ""
}

// NeedFUSE skips (in CI fails) the test when FUSE cannot be used.
func NeedFUSE(t testing.TB) {
	t.Helper()
	ok, why := FUSE()
	Need(t, ok, "FUSE", why)
}
