package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/tests/cli"
)

// The end-to-end tests build the syncfs binary once and drive it as a
// user would: mount in the background, act on the mount from this
// process, flush, unmount, read the remote.

var (
	syncfsBin string
	solverBin string
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	dir, err := os.MkdirTemp("", "syncfs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := cli.Build(dir, "cmd/syncfs", "cmd/fakesolver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syncfsBin, solverBin = bins[0], bins[1]
	code := runTests(m)
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

// mount is a writable mount made by the binary.
type mount struct {
	t                   testing.TB
	mnt, backing, state string
	remote              string
	env                 []string
	args                []string
}

// newMount mounts a fresh directory over remoteURL ("" for a file://
// remote in a temp dir) with extra mount arguments, and unmounts it when
// the test ends.
func newMount(t testing.TB, remoteURL string, env []string, args ...string) *mount {
	t.Helper()
	needFUSE(t)
	dir := t.TempDir()
	m := &mount{t: t, mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "backing"), state: filepath.Join(dir, "state"), remote: remoteURL, env: env, args: args}
	for _, d := range []string{m.mnt, m.backing} {
		os.MkdirAll(d, 0o755)
	}
	if m.remote == "" {
		r := filepath.Join(dir, "remote")
		os.MkdirAll(r, 0o755)
		m.remote = "file://" + r
	}
	m.start()
	t.Cleanup(m.cleanup)
	return m
}

func (m *mount) start() {
	m.t.Helper()
	args := append([]string{"mount", "--backing", m.backing, "--state", m.state, "--remote", m.remote}, m.args...)
	r := syncfs(m.t, m.env, append(args, m.mnt)...)
	if r.Code != 0 {
		m.t.Fatalf("mount: %v", r)
	}
}

func (m *mount) unmount() {
	m.t.Helper()
	if r := syncfs(m.t, m.env, "unmount", m.mnt); r.Code != 0 {
		m.t.Fatalf("unmount: %v", r)
	}
}

// cleanup unmounts whatever is left, however it was left, so that no
// mount survives a test.
func (m *mount) cleanup() {
	if _, ok, _ := mountinfo.Find(m.mnt); !ok {
		return
	}
	if r := syncfs(m.t, m.env, "unmount", m.mnt); r.Code == 0 {
		return
	}
	if pid := m.pid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	syscall.Unmount(m.mnt, syscall.MNT_DETACH)
}

// pid returns the daemon's pid from its pidfile, 0 if none.
func (m *mount) pid() int {
	b, err := os.ReadFile(filepath.Join(m.state, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (m *mount) path(p string) string { return filepath.Join(m.mnt, p) }

func (m *mount) flush() {
	m.t.Helper()
	if r := syncfs(m.t, m.env, "flush", "--wait", "--timeout", "2m", m.mnt); r.Code != 0 {
		m.t.Fatalf("flush: %v\nlog:\n%s", r, m.log())
	}
}

func (m *mount) log() string {
	b, _ := os.ReadFile(filepath.Join(m.state, "syncfs.log"))
	return string(b)
}

func (m *mount) remoteDir() string { return strings.TrimPrefix(m.remote, "file://") }

func oneLine(t testing.TB, r result) {
	t.Helper()
	if s := strings.TrimSpace(r.Stderr); s == "" || strings.Contains(s, "\n") {
		t.Errorf("want one line on stderr, got %q", r.Stderr)
	}
}

func parseJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}
