package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by the error Open returns when another process holds
// the journal.
var ErrLocked = errors.New("journal is in use")

// lockFile is an exclusive flock on <state>/lock whose content names the
// holder, so that a second process can say who is in its way. The kernel
// drops the lock when the holder dies, however it dies, so a crashed
// daemon never leaves a stale lock behind.
type lockFile struct {
	f *os.File
}

func acquireLock(dir, holder string) (*lockFile, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(b))
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("%w: state dir %s is held by %s; unmount that first or pick another --state", ErrLocked, dir, who)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &lockFile{f: f}, nil
}

func (l *lockFile) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
