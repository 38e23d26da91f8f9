// Package mountinfo finds mounts in /proc/self/mountinfo. syncfs commands
// take a mountpoint and find the daemon's state directory from the mount's
// source, which the daemon sets to "syncfs:<state dir>": the kernel's
// mount table is the one place that is never stale.
package mountinfo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Point  string // mount point
	FSType string // e.g. "fuse.syncfs"
	Source string
}

// SourcePrefix starts the source of a writable syncfs mount; the state
// directory follows.
const SourcePrefix = "syncfs:"

// All returns every mount of this process's mount namespace.
func All() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, Mount{Point: unescape(fields[4]), FSType: fields[sep+1], Source: unescape(fields[sep+2])})
	}
	return out, sc.Err()
}

// unescape undoes the kernel's octal escapes (\040 for space, etc.).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Find returns the mount whose mount point is path (made absolute and
// cleaned), the last one if several are stacked there.
func Find(path string) (Mount, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, false, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	all, err := All()
	if err != nil {
		return Mount{}, false, err
	}
	var found Mount
	ok := false
	for _, m := range all {
		if m.Point == abs {
			found, ok = m, true
		}
	}
	return found, ok, nil
}

// IsSyncfs reports whether m is a syncfs mount (writable or read-only).
func (m Mount) IsSyncfs() bool { return m.FSType == "fuse.syncfs" }

// StateDir returns the state directory of a writable syncfs mount.
func (m Mount) StateDir() (string, bool) {
	if !m.IsSyncfs() || !strings.HasPrefix(m.Source, SourcePrefix) {
		return "", false
	}
	return strings.TrimPrefix(m.Source, SourcePrefix), true
}
