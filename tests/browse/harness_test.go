// Package browse_test drives the syncfs binary end to end for reading
// results back: a writable mount and its uploader produce a remote, and
// the read-only mount, ls, cat and get read it.
package browse_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/internal/testenv"
)

var syncfsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncfs-browse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syncfsBin = filepath.Join(dir, "syncfs")
	if b, err := exec.Command("go", "build", "-o", syncfsBin, "../../cmd/syncfs").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building syncfs: %v\n%s", err, b)
		os.Exit(1)
	}
	code := miniotest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func needFUSE(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	ok, why := err == nil, fmt.Sprint(err)
	if ok && os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			ok, why = false, "not root and no fusermount3 (apt-get install fuse3)"
		}
	}
	testenv.Need(t, ok, "FUSE", why)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// syncfs runs the binary with args and extra environment.
func syncfs(t testing.TB, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(syncfsBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running syncfs %v: %v", args, err)
	}
	return r
}

func must(t testing.TB, env []string, args ...string) result {
	t.Helper()
	r := syncfs(t, env, args...)
	if r.code != 0 {
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
		if r := syncfs(t, env, "unmount", mnt); r.code == 0 {
			return
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
}
