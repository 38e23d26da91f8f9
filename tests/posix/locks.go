package posix

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func Flock(t *testing.T, dir string) {
	p := filepath.Join(dir, "lock")
	os.WriteFile(p, nil, 0o644)
	a, _ := os.Open(p)
	defer a.Close()
	b, _ := os.Open(p)
	defer b.Close()
	if err := unix.Flock(int(a.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open file descriptions: the second conflicts.
	if err := unix.Flock(int(b.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != unix.EWOULDBLOCK {
		t.Fatalf("second flock: %v, want EWOULDBLOCK", err)
	}
	unix.Flock(int(a.Fd()), unix.LOCK_UN)
	if err := unix.Flock(int(b.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock after unlock: %v", err)
	}
}

// helperEnv makes a binary that imports this package act as a lock holder
// for PosixLockOtherProc: it takes a write lock on the named file, prints
// "locked", and holds it until its stdin closes.
const helperEnv = "SYNCFS_POSIX_LOCK_HELPER"

func init() {
	p := os.Getenv(helperEnv)
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

func PosixLockOtherProc(t *testing.T, dir string) {
	p := filepath.Join(dir, "plock")
	os.WriteFile(p, nil, 0o644)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != syscall.EAGAIN && err != syscall.EACCES {
		t.Fatalf("lock held by another process: got %v, want EAGAIN", err)
	}
	lk = syscall.Flock_t{Type: syscall.F_WRLCK}
	syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk)
	if lk.Type != syscall.F_WRLCK || int(lk.Pid) != cmd.Process.Pid {
		t.Fatalf("F_GETLK: type %d pid %d, want the helper %d", lk.Type, lk.Pid, cmd.Process.Pid)
	}
}
