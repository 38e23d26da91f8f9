package browse_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/file"
)

// writeTree writes a tree with a Writer into a file:// or MinIO remote.
func writeTree(t *testing.T, kind string) (*browsetest.Writer, string, []string) {
	var store remote.Store
	var url string
	var env []string
	switch kind {
	case "file":
		d := t.TempDir()
		store, _ = file.New(d)
		url = "file://" + d
	case "s3":
		srv := miniotest.Start(t)
		bucket := srv.NewBucket(t)
		store, url, env = srv.Store(t, bucket, "p"), miniotest.URL(bucket, "p"), srv.Env()
	}
	return browsetest.New(t, store), url, env
}

// TestCLI: ls, cat and get on both backends, with the exit codes and
// one-line errors of docs/cli.md.
func TestCLI(t *testing.T) {
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			w, url, env := writeTree(t, kind)
			files := w.WriteVariety(false)
			w.Symlink("dir/to-short", "../short.txt")
			w.SetAttr("short.txt", func(m *format.Manifest) { m.Mode = 0o4755 })

			ls := must(t, env, "ls", url).Stdout
			if !strings.Contains(ls, "-rwsr-xr-x") || !strings.Contains(ls, " 13 ") || !strings.HasSuffix(strings.Split(ls, "\n")[0], " dir") {
				t.Errorf("ls:\n%s", ls)
			}
			if ls := must(t, env, "ls", url+"/dir/to-short").Stdout; !strings.HasSuffix(ls, " to-short -> ../short.txt\n") {
				t.Errorf("ls of a symlink: %q", ls)
			}
			for _, p := range files {
				if got := must(t, env, "cat", url+"/"+p).Stdout; got != string(w.Content(p)) {
					t.Errorf("cat %s: %d bytes, want %d", p, len(got), len(w.Content(p)))
				}
			}
			dir := t.TempDir()
			out := must(t, env, "get", url+"/dir", dir)
			if !strings.Contains(out.Stdout, "got 1 files, 1 symlinks") {
				t.Errorf("get: %v", out)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "sub/frames")); string(b) != string(w.Content("dir/sub/frames")) {
				t.Errorf("get of a directory: contents differ")
			}
			// Resumable: damage a block, get again, only it comes back.
			p := filepath.Join(dir, "sub/frames")
			b, _ := os.ReadFile(p)
			b[2*format.BlockSize] ^= 1
			os.WriteFile(p, b, 0o644)
			if out := must(t, env, "get", url+"/dir", dir); !strings.Contains(out.Stdout, "64.0 KiB fetched") {
				t.Errorf("repairing get: %v", out)
			}
			if b, _ := os.ReadFile(p); string(b) != string(w.Content("dir/sub/frames")) {
				t.Errorf("get did not repair the damaged block")
			}

			for _, c := range []struct {
				args []string
				code int
				msg  string
			}{
				{[]string{"ls", "ftp://x/y"}, exitcode.Usage, "unknown URL scheme"},
				{[]string{"cat", "relative/path"}, exitcode.Usage, "not a URL"},
				{[]string{"ls", url + "/no/such"}, exitcode.Error, "no such file or directory"},
				{[]string{"cat", url + "/dir"}, exitcode.Error, "is a directory"},
				{[]string{"cat", url + "/dir/to-short"}, exitcode.Error, "symbolic link"},
				{[]string{"cat", "--offset", "-1", url + "/short.txt"}, exitcode.Usage, "negative"},
				{[]string{"get", url + "/nope", t.TempDir()}, exitcode.Error, "no such file or directory"},
				{[]string{"get", url}, exitcode.Usage, "want 2 arguments"},
			} {
				r := syncfs(t, env, c.args...)
				if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
					t.Errorf("syncfs %s: %v; want exit %d and one line with %q", strings.Join(c.args, " "), r, c.code, c.msg)
				}
			}
		})
	}
}

func TestCLIRemoteErrors(t *testing.T) {
	d := t.TempDir()
	if r := syncfs(t, nil, "ls", "file://"+d); r.Code != exitcode.Error || !strings.Contains(r.Stderr, "no syncfs tree") {
		t.Errorf("ls of a directory without a tree: %v", r)
	}
	srv := miniotest.Start(t)
	if r := syncfs(t, srv.Env(), "ls", "s3://no-such-bucket-x/p"); r.Code != exitcode.Remote || !strings.Contains(r.Stderr, "does not exist") {
		t.Errorf("ls of a missing bucket: %v", r)
	}
	env := append(srv.Env(), "AWS_ENDPOINT_URL=http://127.0.0.1:1")
	if r := syncfs(t, env, "ls", "s3://bucket/p"); r.Code != exitcode.Remote || !strings.Contains(r.Stderr, "unreachable") {
		t.Errorf("ls of an unreachable endpoint: %v", r)
	}
}

// TestCLIHostile: a hostile remote gives one line per problem and a
// clear error for the file concerned; ls skips what it cannot trust.
func TestCLIHostile(t *testing.T) {
	w, url, env := writeTree(t, "file")
	w.WriteFile("good", []byte("good"), 0o644)
	w.WriteFile("bad", browsetest.Pattern(1, 3*format.MaxFrameRaw), 0o644)
	w.CorruptFrame("bad", w.Extents("bad")[1])
	w.PutDentry(format.RootID, "%2E.", format.Dentry{Kind: format.KindDir, ID: w.ID("good"), Name: ".."})
	w.PutDentry(format.RootID, "ghost", format.Dentry{Kind: format.KindFile, ID: w.NewID(), Name: "ghost"})
	r := syncfs(t, env, "ls", url)
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 2 || !strings.Contains(r.Stderr, "ghost: skipped") || !strings.Contains(r.Stderr, "n/0000000000000001/%2E.") {
		t.Errorf("ls: %v", r)
	}
	if r := syncfs(t, env, "cat", url+"/bad"); r.Code != exitcode.Error || !strings.Contains(r.Stderr, "CRC check failed") {
		t.Errorf("cat bad: %v", r)
	}
	dir := t.TempDir()
	r = syncfs(t, env, "get", url, dir)
	if r.Code != exitcode.Error || !strings.Contains(r.Stderr, "2 entries could not be copied") {
		t.Errorf("get: %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "good")); string(b) != "good" {
		t.Errorf("good not copied")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Errorf("bad copied: %v", err)
	}
}

// TestMountReadOnlyErrors: the read-only mount fails before mounting,
// with one line and the exit code of its class.
func TestMountReadOnlyErrors(t *testing.T) {
	needFUSE(t)
	_, url, _ := writeTree(t, "file")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	cache := filepath.Join(dir, "cache")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"mount", "--read-only", mnt}, exitcode.Usage, "--remote URL is required"},
		{[]string{"mount", "--read-only", "--remote", "ftp://x", "--cache-dir", cache, mnt}, exitcode.Usage, "unknown URL scheme"},
		{[]string{"mount", "--read-only", "--remote", url, "--cache-dir", cache, "--cache-size", "lots", mnt}, exitcode.Usage, "bad size"},
		{[]string{"mount", "--read-only", "--remote", url, "--cache-dir", cache, filepath.Join(dir, "missing")}, exitcode.Mountpoint, "does not exist"},
		{[]string{"mount", "--read-only", "--remote", "file://" + dir, "--cache-dir", cache, mnt}, exitcode.Error, "no syncfs tree"},
		{[]string{"mount", "--read-only", "--remote", url + "/nope", "--cache-dir", cache, mnt}, exitcode.Error, "no such file"},
	} {
		r := syncfs(t, nil, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("syncfs %s: %v; want exit %d and one line with %q", strings.Join(c.args, " "), r, c.code, c.msg)
		}
	}
	unmountAtEnd(t, nil, mnt)
	must(t, nil, "mount", "--read-only", "--remote", url, "--cache-dir", cache, mnt)
	if r := syncfs(t, nil, "mount", "--read-only", "--remote", url, "--cache-dir", cache, mnt); r.Code != exitcode.Mountpoint {
		t.Errorf("second mount on the same mountpoint: %v", r)
	}
	must(t, nil, "unmount", mnt)
	if r := must(t, nil, "unmount", mnt); !strings.Contains(r.Stdout, "not mounted") {
		t.Errorf("second unmount: %v", r)
	}
}

// TestCLIDirectoryCycle: a hostile remote whose dentry points back at an
// ancestor directory does not make ls -R, get or verify recurse for ever:
// each reports the cycle in one line and goes on; get and verify exit 1,
// and verify also reports the dentries ls and get leave out.
func TestCLIDirectoryCycle(t *testing.T) {
	w, url, env := writeTree(t, "file")
	w.MkdirAll("a/b/c")
	w.WriteFile("a/b/c/f", []byte("leaf"), 0o644)
	w.WriteFile("top", []byte("top"), 0o644)
	w.PutDentry(w.ID("a/b/c"), "up", format.Dentry{Kind: format.KindDir, ID: w.ID("a"), Name: "up"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.CommandContext(ctx, syncfsBin, args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("syncfs %v did not finish: a cycle made it recurse", args)
		}
		r := result{Stdout: out.String(), Stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		}
		return r
	}
	r := run("ls", "-R", url)
	if r.Code != 0 || strings.Count(r.Stdout, "a/b/c/f") != 1 || strings.Count(r.Stderr, "cycle") != 1 || !strings.Contains(r.Stderr, "a/b/c/up: skipped") {
		t.Errorf("ls -R: %v", r)
	}
	dir := t.TempDir()
	r = run("get", url, dir)
	if r.Code != exitcode.Error || strings.Count(r.Stderr, "cycle") != 1 || !strings.Contains(r.Stderr, "1 entries could not be copied") {
		t.Errorf("get: %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a/b/c/f")); string(b) != "leaf" {
		t.Errorf("a/b/c/f not copied")
	}
	// A local tree with a directory where the remote has the cycle:
	// verify reports it as corrupt instead of following it.
	os.MkdirAll(filepath.Join(dir, "a/b/c/up/b/c"), 0o755)
	r = run("verify", "--remote", url, dir)
	if r.Code != exitcode.Error || !strings.Contains(r.Stdout, "corrupt  a/b/c/up") || !strings.Contains(r.Stdout, "cycle") {
		t.Errorf("verify of the cycle: %v", r)
	}
	os.RemoveAll(filepath.Join(dir, "a/b/c/up"))
	w.PutRaw(format.DentryKey(w.ID("a/b/c"), "up"), []byte("no longer a dentry"))
	r = run("verify", "--remote", url, dir)
	if r.Code != exitcode.Error || !strings.Contains(r.Stdout, "corrupt  a/b/c/up: dentry") {
		t.Errorf("verify of a skipped dentry: %v", r)
	}
}
