// Package slurm tests the Slurm prolog and epilog of deploy/slurm on a
// real single-node cluster: munged, slurmctld and slurmd started by the
// test, each with a private config, state, socket and ports under one
// temporary directory (nothing under /etc or /run is touched), running
// jobs as a non-root user. See ../../docs/slurm.md and
// /work/shared/slurm-notes.md for the recipe.
//
// It installs nothing: .ci/run installs slurmctld, slurmd, slurm-client
// and munge. Without them (or without root or FUSE) it skips, except in
// CI, where it fails.
package slurm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/testenv"
)

// testUser runs the jobs; created (and removed again) if missing.
const testUser = "syncfsci"

// cluster is a running single-node Slurm cluster with the syncfs
// prolog, epilog and TaskProlog installed from deploy/slurm.
type cluster struct {
	t    *testing.T
	dir  string   // everything the test makes, mode 0755 so the job user can reach it
	node string   // NodeName, = hostname -s
	env  []string // for Slurm commands: SLURM_CONF and a PATH
	uid  int
	gid  int
	// addedUser: the test created testUser and removes it when done.
	addedUser bool

	daemons []*daemon // started, in order
}

// daemon is a process the test started and must stop.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// needTools skips (fails in CI) when this machine cannot run the test.
func needTools(t *testing.T) {
	t.Helper()
	testenv.Need(t, os.Geteuid() == 0, "Slurm test", "needs root: slurmd runs the prolog as root, and the test adds a user")
	var missing []string
	for _, p := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "setpriv", "findmnt", "useradd", "userdel"} {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	testenv.Need(t, len(missing) == 0, "Slurm",
		fmt.Sprintf("%s not found (apt-get install slurmctld slurmd slurm-client munge)", strings.Join(missing, ", ")))
	testenv.NeedFUSE(t)
}

// lookPath finds a program in PATH or in the sbin directories that a
// non-login root shell may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// startCluster builds syncfs and fakesolver, installs the deploy/slurm
// scripts with a test site file, and starts munged, slurmctld and slurmd.
// Everything is undone in t.Cleanup.
func startCluster(t *testing.T) *cluster {
	needTools(t)
	dir, err := os.MkdirTemp("", "syncfs-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir}
	t.Cleanup(c.stop)
	must(t, os.Chmod(dir, 0o755))
	host, err := os.Hostname()
	must(t, err)
	c.node, _, _ = strings.Cut(host, ".")
	c.env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "SLURM_CONF=" + c.path("slurm.conf")}
	c.addUser()

	for _, d := range []string{"bin", "slurm", "log", "remote", "munge", "ctld", "spool"} {
		must(t, os.Mkdir(c.path(d), 0o755))
	}
	must(t, os.Mkdir(c.path("out"), 0o755))
	must(t, os.Chown(c.path("out"), c.uid, c.gid))
	for _, b := range []string{"syncfs", "fakesolver"} {
		if out, err := exec.Command("go", "build", "-o", c.path("bin", b), "github.com/syncfs/syncfs/cmd/"+b).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b, err, out)
		}
	}
	for _, s := range []string{"prolog.sh", "epilog.sh", "task-prolog.sh", "lib.sh"} {
		copyFile(t, filepath.Join("..", "..", "deploy", "slurm", s), c.path("slurm", s), 0o755)
	}
	copyFile(t, filepath.Join("testdata", "job.sh"), c.path("bin", "job.sh"), 0o755)
	// slurmd gives a prolog no environment of its own: a wrapper is how a
	// site points the scripts at another site file.
	for _, s := range []string{"prolog", "epilog", "task-prolog"} {
		w := fmt.Sprintf("#!/bin/sh\nSYNCFS_SLURM_CONF=%s exec %s \"$@\"\n", c.path("site.conf"), c.path("slurm", s+".sh"))
		must(t, os.WriteFile(c.path(s), []byte(w), 0o755))
	}
	must(t, os.WriteFile(c.path("aws.env"), []byte("AWS_REGION=us-east-1\n"), 0o600))
	c.writeSite("")

	c.startMunge()
	c.writeSlurmConf()
	c.start("slurmctld", "slurmctld", "-D", "-f", c.path("slurm.conf"))
	c.start("slurmd", "slurmd", "-D", "-f", c.path("slurm.conf"), "-N", c.node)
	c.waitNode("idle", 30*time.Second, true)
	return c
}

// addUser makes sure the job user exists; one the test creates it removes.
func (c *cluster) addUser() {
	t := c.t
	u, err := user.Lookup(testUser)
	if err != nil {
		out, err := exec.Command(mustLook(t, "useradd"), "-M", "-s", "/bin/bash", testUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v: %s", testUser, err, out)
		}
		c.addedUser = true
		if u, err = user.Lookup(testUser); err != nil {
			t.Fatal(err)
		}
	}
	c.uid, _ = strconv.Atoi(u.Uid)
	c.gid, _ = strconv.Atoi(u.Gid)
}

// writeSite writes the test's site file; extra lines override.
func (c *cluster) writeSite(extra string) {
	conf := fmt.Sprintf(`SYNCFS_BIN=%s
SYNCFS_REMOTE='file://%s/${SLURM_JOB_USER}/${SYNCFS_RUN}'
SYNCFS_SCRATCH=%s
SYNCFS_EXCLUDES=('*.tmp')
SYNCFS_ENV_FILE=%s
SYNCFS_MOUNT_TIMEOUT=30s
SYNCFS_FLUSH_TIMEOUT=30s
SYNCFS_UNMOUNT_TIMEOUT=20s
SYNCFS_CLEANUP=no
SYNCFS_LOG=%s
%s`, c.path("bin", "syncfs"), c.path("remote"), c.path("scratch"), c.path("aws.env"), c.path("log", "syncfs-slurm.log"), extra)
	must(c.t, os.WriteFile(c.path("site.conf"), []byte(conf), 0o644))
}

func (c *cluster) startMunge() {
	t := c.t
	key := make([]byte, 128)
	rand.Read(key)
	must(t, os.WriteFile(c.path("munge", "munge.key"), key, 0o400))
	sock := c.path("munge", "munge.sock")
	c.start("munged", "munged", "-F", "--socket="+sock, "--key-file="+c.path("munge", "munge.key"),
		"--pid-file="+c.path("munge", "munged.pid"), "--seed-file="+c.path("munge", "munged.seed"),
		"--log-file="+c.path("log", "munged.log"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		if time.Now().After(deadline) {
			testenv.Need(t, false, "Slurm", "munged did not create its socket in 10s: "+c.tail("log/munged.out"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeSlurmConf writes slurm.conf for one node, with this machine's
// hardware (slurmd -C) and two free ports, so that it runs beside a
// Slurm the machine may have.
func (c *cluster) writeSlurmConf() {
	t := c.t
	out, err := c.cmd(10*time.Second, "slurmd", "-C")
	testenv.Need(t, err == nil, "Slurm", fmt.Sprintf("slurmd -C: %v: %s", err, out))
	var hw []string
	first, _, _ := strings.Cut(out, "\n")
	for _, f := range strings.Fields(first) {
		for _, k := range []string{"CPUs=", "Boards=", "SocketsPerBoard=", "CoresPerSocket=", "ThreadsPerCore="} {
			if strings.HasPrefix(f, k) {
				hw = append(hw, f)
			}
		}
	}
	conf := fmt.Sprintf(`ClusterName=syncfsci
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=%[4]s
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=%[5]s/ctld/slurmctld.pid
SlurmdPidFile=%[5]s/spool/slurmd.pid
SlurmdSpoolDir=%[5]s/spool
StateSaveLocation=%[5]s/ctld
SlurmctldLogFile=%[5]s/log/slurmctld.log
SlurmdLogFile=%[5]s/log/slurmd.log
Prolog=%[5]s/prolog
Epilog=%[5]s/epilog
TaskProlog=%[5]s/task-prolog
PrologFlags=Alloc
PrologEpilogTimeout=90
MinJobAge=600
SchedulerParameters=sched_interval=1
NodeName=%[1]s NodeAddr=127.0.0.1 %[6]s State=UNKNOWN
PartitionName=debug Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, c.node, freePort(t), freePort(t), c.path("munge", "munge.sock"), c.dir, strings.Join(hw, " "))
	must(t, os.WriteFile(c.path("slurm.conf"), []byte(conf), 0o644))
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a daemon in the foreground, its output in log/NAME.out.
func (c *cluster) start(name, prog string, args ...string) {
	t := c.t
	p, err := lookPath(prog)
	must(t, err)
	out, err := os.Create(c.path("log", name+".out"))
	must(t, err)
	defer out.Close()
	cmd := exec.Command(p, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Should the test die without its cleanups (a test timeout), the
	// daemons go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		testenv.Need(t, false, "Slurm", fmt.Sprintf("starting %s: %v", name, err))
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	c.daemons = append(c.daemons, d)
}

// stop cancels what is left of the test's jobs, stops the daemons by
// PID in reverse order and waits for each, unmounts what a job left
// mounted, and removes the test's directory.
func (c *cluster) stop() {
	t := c.t
	t.Logf("--- syncfs site log:\n%s", c.tail("log/syncfs-slurm.log"))
	if t.Failed() {
		for _, f := range []string{"log/slurmd.log", "log/slurmctld.log"} {
			t.Logf("--- %s:\n%s", f, c.tail(f))
		}
	}
	if c.running("slurmctld") {
		c.cmd(10*time.Second, "scancel", "--user="+testUser)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			out, err := c.cmd(5*time.Second, "squeue", "-h", "--user="+testUser)
			if err != nil || strings.TrimSpace(out) == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for i := len(c.daemons) - 1; i >= 0; i-- {
		d := c.daemons[i]
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s (pid %d) did not exit 20s after SIGTERM; killing it", d.name, d.cmd.Process.Pid)
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	for _, m := range c.mountsBelow() {
		t.Errorf("%s still mounted after the test; unmounting it", m)
		if out, err := c.cmd(60*time.Second, c.path("bin", "syncfs"), "unmount", m); err != nil {
			t.Logf("syncfs unmount %s: %v: %s; detaching it", m, err, out)
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		t.Errorf("removing %s: %v", c.dir, err)
	}
	if c.addedUser {
		c.removeUser()
	}
}

// removeUser removes the test user. Its processes must be gone; zombies,
// which this machine's init may take seconds to reap, do not count.
func (c *cluster) removeUser() {
	t := c.t
	deadline := time.Now().Add(5 * time.Second)
	for {
		live, zombies := procsOf(c.uid)
		if len(live) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if len(live) > 0 {
			t.Errorf("processes of %s outlived the test: %s", testUser, strings.Join(live, "; "))
		}
		args := []string{testUser}
		if len(live)+len(zombies) > 0 {
			args = []string{"--force", testUser} // userdel refuses a user with processes
		}
		if out, err := exec.Command(mustLook(t, "userdel"), args...).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", testUser, err, out)
		}
		return
	}
}

// procsOf lists the processes of uid: the live ones, and the zombies.
func procsOf(uid int) (live, zombies []string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var name, state string
		owned := false
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "Name":
				name = v
			case "State":
				state = v
			case "Uid":
				f := strings.Fields(v)
				owned = len(f) > 0 && f[0] == strconv.Itoa(uid)
			}
		}
		if !owned {
			continue
		}
		p := fmt.Sprintf("pid %s %s (%s)", e.Name(), name, state)
		if strings.HasPrefix(state, "Z") {
			zombies = append(zombies, p)
		} else {
			live = append(live, p)
		}
	}
	return live, zombies
}

func (c *cluster) running(name string) bool {
	for _, d := range c.daemons {
		if d.name == name {
			select {
			case <-d.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// mountsBelow lists the mount points under the test's directory.
func (c *cluster) mountsBelow() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var ms []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], c.dir+"/") {
			ms = append(ms, f[4])
		}
	}
	return ms
}

// cmd runs a command as root with the cluster's environment and a time
// limit; it returns stdout (and stderr in the error).
func (c *cluster) cmd(limit time.Duration, prog string, args ...string) (string, error) {
	return c.cmdAs(limit, nil, prog, args...)
}

func (c *cluster) cmdAs(limit time.Duration, cred *syscall.Credential, prog string, args ...string) (string, error) {
	p, err := lookPath(prog)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	cmd.WaitDelay = 5 * time.Second
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: no answer within %v", prog, strings.Join(args, " "), limit)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// exitCode is the exit status in an error from cmd, -1 if it has none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// submit submits job.sh ARGS as the test user and returns the job ID.
func (c *cluster) submit(sbatchArgs []string, jobArgs ...string) string {
	t := c.t
	t.Helper()
	args := append([]string{"--parsable", "--chdir=" + c.path("out"), "--output=" + c.path("out", "%j.out")}, sbatchArgs...)
	args = append(append(args, c.path("bin", "job.sh")), jobArgs...)
	out, err := c.cmdAs(30*time.Second, &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid)}, "sbatch", args...)
	if err != nil {
		t.Fatalf("sbatch %s: %v", strings.Join(args, " "), err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("sbatch printed %q, not a job ID", out)
	}
	return id
}

// waitGone waits until job id has left the queue: its epilog has
// finished (a job stays COMPLETING until then).
func (c *cluster) waitGone(id string, limit time.Duration) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := c.cmd(10*time.Second, "squeue", "-h", "-j", id)
		if err == nil && strings.TrimSpace(out) == "" {
			return
		}
		if err != nil && strings.Contains(err.Error(), "Invalid job id") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still in the queue after %v: %s %v", id, limit, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// job returns fields of scontrol show job: JobState, Reason, ExitCode,
// Restarts, ...
func (c *cluster) job(id string) map[string]string {
	t := c.t
	t.Helper()
	out, err := c.cmd(10*time.Second, "scontrol", "show", "job", "-o", id)
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", id, err)
	}
	return fields(out)
}

// waitJob waits until job id's fields have the values in want.
func (c *cluster) waitJob(id string, want map[string]string, limit time.Duration) map[string]string {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		j := c.job(id)
		ok := true
		for k, v := range want {
			ok = ok && j[k] == v
		}
		if ok {
			return j
		}
		if ended[j["JobState"]] {
			t.Fatalf("job %s ended (JobState=%s Reason=%s), want %v", id, j["JobState"], j["Reason"], want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: JobState=%s Reason=%s after %v, want %v", id, j["JobState"], j["Reason"], limit, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ended holds the job states of a job that will not run again.
var ended = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true,
	"NODE_FAIL": true, "OUT_OF_MEMORY": true, "BOOT_FAIL": true, "DEADLINE": true, "PREEMPTED": true}

// nodeState returns the node's state (sinfo: idle, drained, ...) and
// the reason it was drained.
func (c *cluster) nodeState() (state, reason string) {
	t := c.t
	t.Helper()
	out, err := c.cmd(10*time.Second, "sinfo", "-h", "-N", "-n", c.node, "-o", "%T|%E")
	if err != nil {
		t.Fatalf("sinfo: %v", err)
	}
	state, reason, _ = strings.Cut(strings.TrimSpace(out), "|")
	return state, reason
}

// waitNode waits until the node is in state want; with need, a timeout
// means the cluster cannot start (skip outside CI).
func (c *cluster) waitNode(want string, limit time.Duration, need bool) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := c.cmd(10*time.Second, "sinfo", "-h", "-N", "-n", c.node, "-o", "%T")
		if err == nil && strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("node %s is %q (%v) after %v, want %s; slurmctld: %s; slurmd: %s",
				c.node, strings.TrimSpace(out), err, limit, want, c.tail("log/slurmctld.out"), c.tail("log/slurmd.out"))
			if need {
				testenv.Need(t, false, "Slurm", msg)
			}
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// undrain puts a drained node back to work, so that a test that drained
// it, passing or failing, leaves it as it found it.
func (c *cluster) undrain() {
	t := c.t
	t.Helper()
	if st, _ := c.nodeState(); !strings.HasPrefix(st, "drain") {
		return
	}
	if _, err := c.cmd(10*time.Second, "scontrol", "update", "nodename="+c.node, "state=resume"); err != nil {
		t.Errorf("resuming node %s: %v", c.node, err)
		return
	}
	c.waitNode("idle", 20*time.Second, false)
}

// siteLog returns the lines of the syncfs site log about job id.
func (c *cluster) siteLog(id string) string {
	b, _ := os.ReadFile(c.path("log", "syncfs-slurm.log"))
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, ": job "+id+": ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// tail returns the end of a file in the test's directory.
func (c *cluster) tail(rel string) string {
	b, err := os.ReadFile(c.path(rel))
	if err != nil {
		return err.Error()
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// fields parses "Key=Value Key=Value" (scontrol -o); a value ends at the
// next space.
func fields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if _, dup := m[k]; !dup {
				m[k] = v
			}
		}
	}
	return m
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, mode))
}

func mustLook(t *testing.T, name string) string {
	p, err := lookPath(name)
	must(t, err)
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
