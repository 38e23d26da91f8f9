// Package browse_test drives the syncfs binary end to end for reading
// results back: a writable mount and its uploader produce a remote, and
// the read-only mount, ls, cat and get read it.
package browse_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/tests/cli"
)

var syncfsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncfs-browse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := cli.Build(dir, "cmd/syncfs")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syncfsBin = bins[0]
	code := miniotest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func needFUSE(t testing.TB) { cli.NeedFUSE(t) }

type result = cli.Result

// syncfs runs the binary with args and extra environment.
func syncfs(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return cli.Run(t, syncfsBin, env, args...)
}

func must(t testing.TB, env []string, args ...string) result {
	t.Helper()
	r := syncfs(t, env, args...)
	if r.Code != 0 {
		t.Fatalf("syncfs %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// unmountAtEnd makes sure nothing stays mounted at mnt when the test
// ends, however the test went.
func unmountAtEnd(t testing.TB, env []string, mnt string) {
	t.Cleanup(func() {
		if _, ok, _ := mountinfo.Find(mnt); !ok {
			return
		}
		if r := syncfs(t, env, "unmount", mnt); r.Code == 0 {
			return
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
}
