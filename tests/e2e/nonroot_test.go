package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/testenv"
)

// TestMountAsUser mounts as an unprivileged user, through fusermount3
// (no DirectMount): write, flush, verify, unmount.
func TestMountAsUser(t *testing.T) {
	needFUSE(t)
	testenv.Need(t, os.Geteuid() == 0, "root", "needed to act as another user")
	_, err := exec.LookPath("fusermount3")
	testenv.Need(t, err == nil, "fusermount3", "apt-get install fuse3")
	// Debian's udev makes /dev/fuse 0666; machines without udev (this CI
	// VM) leave it 0600, which only lets root mount. Open it up for the
	// test and put the mode back.
	if st, err := os.Stat("/dev/fuse"); err == nil && st.Mode().Perm() != 0o666 {
		old := st.Mode().Perm()
		if err := os.Chmod("/dev/fuse", 0o666); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod("/dev/fuse", old) })
	}
	const uid, gid = 65534, 65534
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o755)
	for _, d := range []string{"mnt", "backing", "remote"} {
		os.MkdirAll(filepath.Join(home, d), 0o755)
	}
	filepath.Walk(home, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	bin := filepath.Join(dir, "syncfs")
	b, _ := os.ReadFile(syncfsBin)
	os.WriteFile(bin, b, 0o755)
	as := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mnt := filepath.Join(home, "mnt")
	if out, err := as("mount", "--backing", filepath.Join(home, "backing"), "--remote", "file://"+filepath.Join(home, "remote"), mnt); err != nil {
		t.Fatalf("mount as uid %d: %v: %s", uid, err, out)
	}
	t.Cleanup(func() {
		as("unmount", mnt)
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	if out, err := exec.Command("sh", "-c", "grep ' "+mnt+" ' /proc/mounts").Output(); err != nil || !strings.Contains(string(out), "user_id=65534") {
		t.Fatalf("not a user mount: %s %v", out, err)
	}
	cmd := exec.Command("sh", "-c", "echo results > '"+filepath.Join(mnt, "out.txt")+"'")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing as the user: %v: %s", err, out)
	}
	if out, err := as("flush", "--wait", "--timeout", "1m", mnt); err != nil {
		t.Fatalf("flush: %v: %s", err, out)
	}
	if out, err := as("verify", "--remote", "file://"+filepath.Join(home, "remote"), mnt); err != nil {
		t.Fatalf("verify: %v: %s", err, out)
	}
	if out, err := as("unmount", mnt); err != nil {
		t.Fatalf("unmount: %v: %s", err, out)
	}
}
