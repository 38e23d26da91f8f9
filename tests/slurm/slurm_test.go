package slurm

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSlurm runs jobs through the prolog and epilog of deploy/slurm on a
// real cluster and checks, after each job has left the queue (its epilog
// finished), what reached the remote and what is left on the node.
func TestSlurm(t *testing.T) {
	c := startCluster(t)
	solver := []string{"solver", c.path("bin", "fakesolver"), "-size", "16MiB", "-steps", "6"}

	// Four jobs at once: the node runs two at a time.
	completed := c.submit(nil, solver...)
	failed := c.submit(nil, append(solver, "-fail-after", "3")...)
	optedOut := c.submit([]string{"--comment=syncfs:off"}, "off")
	direct := c.submit([]string{"--comment=syncfs:direct"}, solver...)

	t.Run("Completed", func(t *testing.T) {
		c := c.with(t)
		c.waitGone(completed, 90*time.Second)
		c.checkShipped(completed, "COMPLETED", "0:0")
	})

	t.Run("FailedJobStillShips", func(t *testing.T) {
		c := c.with(t)
		c.waitGone(failed, 90*time.Second)
		c.checkShipped(failed, "FAILED", "3:0")
	})

	t.Run("OptOut", func(t *testing.T) {
		c := c.with(t)
		c.waitGone(optedOut, 90*time.Second)
		if j := c.job(optedOut); j["JobState"] != "COMPLETED" {
			t.Errorf("job state %s, want COMPLETED", j["JobState"])
		}
		if out := c.jobOutput(optedOut); !strings.Contains(out, "SYNCFS_DIR=unset") {
			t.Errorf("a job with --comment=syncfs:off has SYNCFS_DIR set; its output:\n%s", out)
		}
		c.checkGone(c.data(optedOut), c.mnt(optedOut))
		if l := c.siteLog(optedOut); !strings.Contains(l, "opts out") {
			t.Errorf("site log does not say the job opted out:\n%s", l)
		}
	})

	t.Run("DirectWrites", func(t *testing.T) {
		c := c.with(t)
		c.waitGone(direct, 90*time.Second)
		c.checkShipped(direct, "COMPLETED", "0:0")
		if l := c.siteLog(direct); !strings.Contains(l, "with --direct-writes") {
			t.Errorf("site log does not say the mount used --direct-writes:\n%s", l)
		}
	})

	t.Run("CleanupAfterShipping", func(t *testing.T) {
		c := c.with(t)
		c.writeSite("SYNCFS_CLEANUP=yes\n")
		id := c.submit(nil, "hello")
		c.waitGone(id, 60*time.Second)
		if j := c.job(id); j["JobState"] != "COMPLETED" {
			t.Errorf("job state %s, want COMPLETED", j["JobState"])
		}
		c.checkGone(c.data(id), c.mnt(id))
		// The local copy is gone: compare the remote with what the job wrote.
		ref := c.path("ref-" + id)
		must(t, os.Mkdir(ref, 0o755))
		must(t, os.WriteFile(filepath.Join(ref, "hello.txt"), []byte("hello from job "+id+"\n"), 0o644))
		if out, err := c.cmd(60*time.Second, c.path("bin", "syncfs"), "verify", "--remote", c.remote(id), ref); err != nil {
			t.Errorf("syncfs verify of job %s: %v\n%s", id, err, out)
		}
		if l := c.siteLog(id); !strings.Contains(l, "removed the local copy") {
			t.Errorf("site log does not say the local copy was removed:\n%s", l)
		}
	})

	t.Run("PublishPlainObjects", func(t *testing.T) {
		c := c.with(t)
		c.writeSite("SYNCFS_PUBLISH=yes\n")
		id := c.submit(nil, "hello")
		c.waitGone(id, 60*time.Second)
		if j := c.job(id); j["JobState"] != "COMPLETED" {
			t.Errorf("job state %s, want COMPLETED", j["JobState"])
		}
		// The plain copy: a file any tool reads, beside the deltas.
		plain := filepath.Join(strings.TrimPrefix(c.remote(id), "file://"), "files", "hello.txt")
		if b, err := os.ReadFile(plain); err != nil || string(b) != "hello from job "+id+"\n" {
			t.Errorf("published %s: %q, %v", plain, b, err)
		}
		if l := c.siteLog(id); !strings.Contains(l, "published 1 files") {
			t.Errorf("site log does not say what was published:\n%s", l)
		}
	})

	t.Run("UploadFailsKeepsDataAndDrains", func(t *testing.T) {
		c := c.with(t)
		t.Cleanup(c.undrain)
		// A mount that only journals: the epilog's flush fails at once.
		c.writeSite("SYNCFS_MOUNT_OPTIONS=(--upload=false)\nSYNCFS_ON_UPLOAD_FAILURE=drain\n")
		id := c.submit(nil, "hello")
		c.waitGone(id, 60*time.Second)
		c.waitNode("drained", 20*time.Second, false)
		if _, reason := c.nodeState(); !strings.Contains(reason, "Epilog error") {
			t.Errorf("node drained for %q, want Epilog error", reason)
		}
		if c.isMounted(c.mnt(id)) {
			t.Errorf("%s still mounted after the epilog", c.mnt(id))
		}
		l := c.siteLog(id)
		if !strings.Contains(l, "NOT all shipped") || !strings.Contains(l, "syncfs recover --state "+c.data(id)+"/state") ||
			!strings.Contains(l, `--exclude \*.tmp`) {
			t.Errorf("site log does not say what was kept and how to ship it (with the site's excludes):\n%s", l)
		}
		out, err := c.cmd(60*time.Second, c.path("bin", "syncfs"), "verify", "--remote", c.remote(id), filepath.Join(c.data(id), "backing"))
		if exitCode(err) != 1 {
			t.Errorf("verify before shipping what was kept: exit %d, want 1 (nothing shipped); %v\n%s", exitCode(err), err, out)
		}
		c.shipKept(id)
	})

	t.Run("DaemonDiesRecovered", func(t *testing.T) {
		c := c.with(t)
		c.writeSite("")
		id := c.submit(nil, "wait", c.path("out"))
		c.waitFile(c.path("out", "ready-"+id), 60*time.Second)
		pid, err := os.ReadFile(filepath.Join(c.data(id), "state", "pid"))
		must(t, err)
		c.kill(strings.TrimSpace(string(pid)))
		must(t, os.WriteFile(c.path("out", "go-"+id), nil, 0o644))
		c.waitGone(id, 60*time.Second)
		if j := c.job(id); j["JobState"] != "COMPLETED" {
			t.Errorf("job state %s, want COMPLETED", j["JobState"])
		}
		if st, _ := c.nodeState(); st != "idle" {
			t.Errorf("node is %s, want idle", st)
		}
		if c.isMounted(c.mnt(id)) {
			t.Errorf("the dead mount %s is still there after the epilog", c.mnt(id))
		}
		// The epilog shipped the dead daemon's journal with syncfs recover.
		l := c.siteLog(id)
		if !strings.Contains(l, "recovered its journal") {
			t.Errorf("site log does not say the journal was recovered:\n%s", l)
		}
		backing := filepath.Join(c.data(id), "backing")
		if out, err := c.cmd(60*time.Second, c.path("bin", "syncfs"), "verify", "--remote", c.remote(id), "--exclude", "*.tmp", backing); err != nil {
			t.Errorf("syncfs verify after the epilog recovered the journal: %v\n%s", err, out)
		}
	})

	t.Run("MountFailsJob", func(t *testing.T) {
		c := c.with(t)
		t.Cleanup(c.undrain)
		// The results file system is "not mounted": its root is missing.
		c.writeSite("SYNCFS_REMOTE='file://" + c.path("missing") + "/${SLURM_JOB_USER}/${SYNCFS_RUN}'\n")
		id := c.submit(nil, "hello")
		// Held after a failed launch, once the epilog that follows the
		// failed prolog is done (until then the job is COMPLETING).
		c.waitJob(id, map[string]string{"JobState": "PENDING", "Reason": "launch_failed_requeued_held"}, 60*time.Second)
		c.waitNode("drained", 20*time.Second, false)
		if _, reason := c.nodeState(); !strings.Contains(reason, "Prolog error") {
			t.Errorf("node drained for %q, want Prolog error", reason)
		}
		if l := c.siteLog(id); !strings.Contains(l, "cannot mount "+c.mnt(id)) || !strings.Contains(l, "does not exist") {
			t.Errorf("site log does not say why the mount failed:\n%s", l)
		}
		if b, err := os.ReadFile(c.path("out", id+".out")); err == nil {
			t.Errorf("the job ran although its prolog failed; its output:\n%s", b)
		}
		c.checkGone(c.data(id), c.mnt(id))
		if _, err := c.cmd(10*time.Second, "scancel", id); err != nil {
			t.Errorf("scancel %s: %v", id, err)
		}
		c.waitGone(id, 30*time.Second)
	})

	if ms := c.mountsBelow(); len(ms) > 0 {
		t.Errorf("still mounted after all jobs: %v", ms)
	}
}

// with returns c reporting to t (a subtest).
func (c *cluster) with(t *testing.T) *cluster {
	cc := *c
	cc.t = t
	return &cc
}

func (c *cluster) mnt(id string) string    { return c.path("scratch", id) }
func (c *cluster) data(id string) string   { return c.path("scratch", ".syncfs", id) }
func (c *cluster) remote(id string) string { return "file://" + c.path("remote", testUser, id) }

func (c *cluster) jobOutput(id string) string {
	b, err := os.ReadFile(c.path("out", id+".out"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (c *cluster) isMounted(dir string) bool {
	for _, m := range c.mountsBelow() {
		if m == dir {
			return true
		}
	}
	return false
}

// checkShipped checks a job that wrote solver output into its syncfs
// directory and has left the queue: it ended as wanted, it ran in a
// syncfs mount, the remote holds exactly its bytes (but the excluded
// scratch file), and its mount and daemon are gone.
func (c *cluster) checkShipped(id, state, exit string) {
	t := c.t
	t.Helper()
	j := c.job(id)
	if j["JobState"] != state || j["ExitCode"] != exit {
		t.Errorf("job %s: JobState=%s ExitCode=%s, want %s %s", id, j["JobState"], j["ExitCode"], state, exit)
	}
	out := c.jobOutput(id)
	if !strings.Contains(out, "SYNCFS_DIR="+c.mnt(id)+"\n") || !strings.Contains(out, "fstype=fuse.syncfs\n") {
		t.Errorf("job %s did not run in its syncfs mount %s; its output:\n%s", id, c.mnt(id), out)
	}
	if c.isMounted(c.mnt(id)) {
		t.Errorf("%s still mounted after the epilog", c.mnt(id))
	}
	if _, err := os.Stat(c.mnt(id)); !os.IsNotExist(err) {
		t.Errorf("the epilog left the mountpoint %s: %v", c.mnt(id), err)
	}
	if _, err := os.Stat(filepath.Join(c.data(id), "state", "pid")); !os.IsNotExist(err) {
		t.Errorf("the daemon's pid file is still there: %v", err)
	}
	backing := filepath.Join(c.data(id), "backing")
	if st, err := os.Stat(filepath.Join(backing, "job.odb")); err != nil || st.Size() == 0 {
		t.Errorf("job %s wrote no results: %v", id, err)
	}
	syncfs := c.path("bin", "syncfs")
	if out, err := c.cmd(60*time.Second, syncfs, "verify", "--remote", c.remote(id), "--exclude", "*.tmp", backing); err != nil {
		t.Errorf("syncfs verify of job %s: %v\n%s", id, err, out)
	}
	// The site's exclude reached the mount: scratch.tmp was not shipped.
	out, err := c.cmd(60*time.Second, syncfs, "verify", "--remote", c.remote(id), backing)
	if exitCode(err) != 1 || !strings.Contains(out, "scratch.tmp") {
		t.Errorf("verify without --exclude: exit %d, want 1 naming scratch.tmp (not shipped); %v\n%s", exitCode(err), err, out)
	}
	if l := c.siteLog(id); !strings.Contains(l, "mounted "+c.mnt(id)) || !strings.Contains(l, "shipped to "+c.remote(id)) {
		t.Errorf("site log lacks the prolog's and the epilog's lines:\n%s", l)
	}
}

// shipKept checks that the epilog kept job id's data and ships it by
// mounting the kept state again (as syncfs recover does without a mount).
func (c *cluster) shipKept(id string) {
	t := c.t
	t.Helper()
	backing, state := filepath.Join(c.data(id), "backing"), filepath.Join(c.data(id), "state")
	for _, p := range []string{filepath.Join(c.data(id), "job.env"), state, filepath.Join(backing, "hello.txt")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the epilog did not keep %s: %v", p, err)
		}
	}
	mnt := c.path("recover-" + id)
	must(t, os.Mkdir(mnt, 0o755))
	syncfs := c.path("bin", "syncfs")
	if out, err := c.cmd(60*time.Second, syncfs, "mount", "--backing", backing, "--state", state, "--remote", c.remote(id), "--exclude", "*.tmp", mnt); err != nil {
		t.Fatalf("mounting the kept state: %v\n%s", err, out)
	}
	if out, err := c.cmd(60*time.Second, syncfs, "flush", "--wait", "--timeout", "30s", mnt); err != nil {
		t.Errorf("flushing the kept state: %v\n%s", err, out)
	}
	if out, err := c.cmd(60*time.Second, syncfs, "unmount", mnt); err != nil {
		t.Errorf("unmount: %v\n%s", err, out)
	}
	if out, err := c.cmd(60*time.Second, syncfs, "verify", "--remote", c.remote(id), backing); err != nil {
		t.Errorf("syncfs verify after shipping the kept state: %v\n%s", err, out)
	}
}

// waitFile waits until path exists.
func (c *cluster) waitFile(path string, limit time.Duration) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs process pid (not the test's child) and waits until it is
// dead (gone, or a zombie waiting for init).
func (c *cluster) kill(pid string) {
	t := c.t
	t.Helper()
	n, err := strconv.Atoi(pid)
	must(t, err)
	must(t, syscall.Kill(n, syscall.SIGKILL))
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return
		}
		if _, rest, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(rest, "Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %s still alive 10s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkGone checks that nothing of a job without a mount is left.
func (c *cluster) checkGone(paths ...string) {
	c.t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			c.t.Errorf("%s exists: %v", p, err)
		}
	}
}
