package posix

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// OtherUser checks the mount as a job user who is not the one that mounted
// it (allow_other, default_permissions): files get that user's owner, and
// the kernel enforces modes.
func OtherUser(t *testing.T, dir string) {
	needRoot(t)
	const uid, gid = 65534, 65534
	os.Chmod(dir, 0o777)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only"), 0o600)
	run := func(script string) error {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("%s: %v: %s", script, err, out)
		}
		return err
	}
	mine := filepath.Join(dir, "mine")
	if err := run("umask 022; echo data > '" + mine + "'"); err != nil {
		t.Fatal("other user cannot create a file in a 0777 dir")
	}
	var st syscall.Stat_t
	syscall.Stat(mine, &st)
	if st.Uid != uid || st.Gid != gid || st.Mode&0o777 != 0o644 {
		t.Fatalf("file made by uid %d: owner %d:%d mode %o", uid, st.Uid, st.Gid, st.Mode&0o777)
	}
	if err := run("cat '" + secret + "' >/dev/null"); err == nil {
		t.Fatal("other user read a 0600 root file")
	}
	if err := run("echo x >> '" + secret + "'"); err == nil {
		t.Fatal("other user wrote a 0600 root file")
	}
	sub := filepath.Join(dir, "sub")
	if err := run("mkdir '" + sub + "' && echo y > '" + sub + "/f'"); err != nil {
		t.Fatal(err)
	}
	syscall.Stat(sub, &st)
	if st.Uid != uid {
		t.Fatalf("dir made by uid %d has owner %d", uid, st.Uid)
	}
}
