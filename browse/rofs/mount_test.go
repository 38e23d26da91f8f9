package rofs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/remote/file"
)

// Mount tests serve the mount from a child process (this test binary,
// re-executed), as fs/mount_test.go explains: a Go process that serves a
// FUSE mount and page-faults on it can deadlock.

const serverEnv = "SYNCFS_ROFS_TEST_SERVER"

type serverConfig struct {
	Mnt, URL, S3Endpoint string
	CacheDir             string
	CacheSize            int64
	Refresh              time.Duration
	KernelWritable       bool
}

// serverStats is what the child reports when it exits.
type serverStats struct {
	Gets     int64       `json:"gets"`
	DataGets int64       `json:"data_gets"`
	GetBytes int64       `json:"get_bytes"`
	FS       Stats       `json:"fs"`
	Cache    cache.Stats `json:"cache"`
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(serverEnv); cfg != "" {
		os.Exit(serveForTest(cfg))
	}
	os.Exit(miniotest.Main(m))
}

func serveForTest(cfgJSON string) int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	var c serverConfig
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	store, err := backend.Open(ctx, c.URL, backend.Options{S3Endpoint: c.S3Endpoint})
	if err != nil {
		return fail(err)
	}
	counting := &browsetest.Counting{Store: store}
	var ch *cache.Cache
	if c.CacheDir != "" {
		if ch, err = cache.Open(c.CacheDir, c.CacheSize, cache.Options{}); err != nil {
			return fail(err)
		}
	}
	logger := log.New(os.Stderr, "rofs-server: ", 0)
	tree, err := browse.Open(ctx, counting, browse.Options{Cache: ch, Logger: logger, DentryTTL: c.Refresh})
	if err != nil {
		return fail(err)
	}
	fsys := New(tree, Options{Refresh: c.Refresh, Logger: logger})
	server, err := Mount(c.Mnt, fsys, MountOptions{FsName: "syncfs-rotest", AllowOther: os.Geteuid() == 0, KernelWritable: c.KernelWritable})
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
	for i := 0; ; i++ {
		if err := server.Unmount(); err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	server.Wait()
	ch.Close()
	st, _ := json.Marshal(serverStats{Gets: counting.Gets.Load(), DataGets: counting.DataGets.Load(),
		GetBytes: counting.GetBytes.Load(), FS: fsys.Stats(), Cache: ch.Stats()})
	fmt.Println(string(st))
	return 0
}

// testMount is a real read-only mount served by a child process.
type testMount struct {
	mnt    string
	cfg    serverConfig
	env    []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	logs   *testenv.Buffer
}

// remoteFor is a remote a test writes with a Writer and mounts by URL.
type remoteFor struct {
	name  string
	store func(t *testing.T) (remote.Store, string, []string) // store, URL, child env
}

var remotes = []remoteFor{
	{"file", func(t *testing.T) (remote.Store, string, []string) {
		dir := t.TempDir()
		s, err := file.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s, "file://" + dir, nil
	}},
	{"s3", func(t *testing.T) (remote.Store, string, []string) {
		srv := miniotest.Start(t)
		bucket := srv.NewBucket(t)
		return srv.Store(t, bucket, "job/7"), miniotest.URL(bucket, "job/7"), srv.Env()
	}},
}

func newMount(t *testing.T, url string, env []string, cfg serverConfig) *testMount {
	t.Helper()
	ok, why := testenv.FUSE()
	testenv.Need(t, ok, "FUSE", why)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	cfg.Mnt, cfg.URL = filepath.Join(dir, "mnt"), url
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Second
	}
	if err := os.Mkdir(cfg.Mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &testMount{mnt: cfg.Mnt, cfg: cfg, env: env}
	m.start(t)
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", m.logs)
		}
	})
	return m
}

func (m *testMount) start(t *testing.T) {
	t.Helper()
	cfg, _ := json.Marshal(m.cfg)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), m.env...), serverEnv+"="+string(cfg))
	m.logs = &testenv.Buffer{}
	cmd.Stderr = m.logs
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.stdout = bufio.NewReader(stdout)
	line, _ := m.stdout.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("test server: %q; log:\n%s", line, m.logs)
	}
	m.cmd, m.stdin = cmd, stdin
}

// stop unmounts and returns the server's counters; a server that does
// not exit in time is killed and its mount detached.
func (m *testMount) stop(t *testing.T) serverStats {
	var st serverStats
	if m.cmd == nil {
		return st
	}
	m.stdin.Close()
	done := make(chan error, 1)
	go func() {
		line, _ := m.stdout.ReadString('\n')
		json.Unmarshal([]byte(line), &st)
		done <- m.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("test server did not exit; killing it")
		m.cmd.Process.Kill()
		<-done
		syscall.Unmount(m.mnt, syscall.MNT_DETACH)
	}
	m.cmd = nil
	return st
}

func (m *testMount) path(p string) string { return filepath.Join(m.mnt, p) }
