// Package verify compares a local directory tree with a remote syncfs
// tree end to end, the check the tool syncfs replaces never made (it
// reported equal sizes for different bytes).
//
// For every regular file it compares the 16-byte hash of each 64 KiB
// block of the local file with the block hashes in the remote segment
// manifests, which needs no data download; with Deep (the default of
// `syncfs verify`) it also reads every byte back through the remote
// format (frames fetched, decoded, checksummed) and compares it with the
// local bytes. Names, kinds, sizes and symlink targets are compared too.
// Every difference is reported, not just the first.
package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/exclude"
	"golang.org/x/sys/unix"
)

// Options tune a comparison.
type Options struct {
	// Deep reads every remote byte back and compares it.
	Deep bool
	// Exclude leaves out what the mount never ships: the same matcher as
	// mount --exclude, so that the two agree on every pattern.
	Exclude *exclude.Matcher
}

// Difference is one path that is not the same on both sides.
type Difference struct {
	Path string
	Kind string // "missing" (local only), "extra" (remote only), "differs", "corrupt" (remote unreadable)
	Why  string
}

func (d Difference) String() string {
	if d.Why == "" {
		return fmt.Sprintf("%-8s %s", d.Kind, d.Path)
	}
	return fmt.Sprintf("%-8s %s: %s", d.Kind, d.Path, d.Why)
}

// Report is the outcome of a comparison.
type Report struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // bytes of the local files compared
	Differences           []Difference
}

// Tree compares the local directory dir with the remote directory sub
// ("" for the root) of t.
func Tree(ctx context.Context, t *browse.Tree, sub, dir string, opts Options) (*Report, error) {
	root, err := t.Resolve(ctx, sub)
	if err != nil {
		return nil, err
	}
	if root.Kind != format.KindDir {
		return nil, fmt.Errorf("remote %q is not a directory", sub)
	}
	local, err := beneath.Open(dir)
	if err != nil {
		return nil, err
	}
	defer local.Close()
	v := &verifier{t: t, opts: opts, r: &Report{}, local: local}
	v.visited.Enter(root.ID, "")
	v.r.Dirs++
	if err := v.dir(ctx, root.ID, ""); err != nil {
		return nil, err
	}
	sort.Slice(v.r.Differences, func(i, j int) bool { return v.r.Differences[i].Path < v.r.Differences[j].Path })
	return v.r, nil
}

type verifier struct {
	t     *browse.Tree
	opts  Options
	r     *Report
	local *beneath.Dir // the local tree, reached fd-relative: paths may exceed PATH_MAX

	visited browse.Visited // remote directories compared: one met twice is a cycle
}

func (v *verifier) diff(p, kind, why string, args ...any) {
	v.r.Differences = append(v.r.Differences, Difference{Path: p, Kind: kind, Why: fmt.Sprintf(why, args...)})
}

func (v *verifier) excluded(rel string) bool { return v.opts.Exclude.Match(rel) }

// dir compares local directory rel with remote directory id.
func (v *verifier) dir(ctx context.Context, id format.ID, rel string) error {
	ents, err := v.list(rel)
	if err != nil {
		return fmt.Errorf("%s: %w", path.Join(v.local.Path, rel), err)
	}
	rents, skipped, err := v.t.ReadDirChecked(ctx, id)
	if err != nil {
		v.diff(rel, "corrupt", "listing the remote directory: %v", err)
		return nil
	}
	// What ls and get leave out (with a log line) is a difference here:
	// the remote holds something that cannot be trusted.
	for _, s := range skipped {
		v.diff(path.Join(rel, path.Base(s.Key)), "corrupt", "dentry %s: %v", s.Key, s.Why)
	}
	remote := map[string]browse.Entry{}
	for _, e := range rents {
		remote[e.Name] = e
	}
	for _, e := range ents {
		name := e.name
		p := path.Join(rel, name)
		if v.excluded(p) {
			delete(remote, name)
			continue
		}
		re, ok := remote[name]
		delete(remote, name)
		lk := kindOf(e.mode)
		if lk == 0 {
			continue // fifos, sockets, devices are not shipped
		}
		if !ok {
			v.diff(p, "missing", "not in the remote")
			continue
		}
		if re.Kind != lk {
			v.diff(p, "differs", "a %v here, a %v in the remote", lk, re.Kind)
			continue
		}
		switch lk {
		case format.KindDir:
			v.r.Dirs++
			if err := v.visited.Enter(re.ID, p); err != nil {
				v.diff(p, "corrupt", "%v", err)
				continue
			}
			if err := v.dir(ctx, re.ID, p); err != nil {
				return err
			}
		case format.KindSymlink:
			v.r.Symlinks++
			v.symlink(ctx, re.ID, p)
		case format.KindFile:
			v.r.Files++
			if err := v.file(ctx, re.ID, p); err != nil {
				return err
			}
		}
	}
	for name := range remote {
		v.diff(path.Join(rel, name), "extra", "in the remote only")
	}
	return nil
}

type localEntry struct {
	name string
	mode os.FileMode
}

// list reads local directory rel.
func (v *verifier) list(rel string) ([]localEntry, error) {
	fd, err := v.local.Open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]localEntry, 0, len(names))
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var m os.FileMode
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			m = os.ModeDir
		case unix.S_IFLNK:
			m = os.ModeSymlink
		default:
			m = os.ModeDevice
		}
		out = append(out, localEntry{name: name, mode: m})
	}
	return out, nil
}

func kindOf(m os.FileMode) format.Kind {
	switch {
	case m.IsRegular():
		return format.KindFile
	case m.IsDir():
		return format.KindDir
	case m&os.ModeSymlink != 0:
		return format.KindSymlink
	}
	return 0
}

func (v *verifier) symlink(ctx context.Context, id format.ID, p string) {
	var target string
	dir, name := beneath.Split(p)
	err := v.local.WithDir(dir, func(fd int) error {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(fd, name, buf)
		target = string(buf[:max(n, 0)])
		return err
	})
	if err != nil {
		v.diff(p, "differs", "%v", err)
		return
	}
	m, err := v.t.Stat(ctx, id)
	if err != nil {
		v.diff(p, "corrupt", "%v", err)
		return
	}
	if m.Target != target {
		v.diff(p, "differs", "symlink to %q here, to %q in the remote", target, m.Target)
	}
}

// file compares a regular file block by block, and byte by byte when
// Deep. Local read errors stop everything; remote ones are reported.
func (v *verifier) file(ctx context.Context, id format.ID, p string) error {
	lp := path.Join(v.local.Path, p)
	fd, err := v.local.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", lp, err)
	}
	f := os.NewFile(uintptr(fd), lp)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	v.r.Bytes += size
	rf, err := v.t.OpenFile(ctx, id)
	if err != nil {
		v.diff(p, "corrupt", "%v", err)
		return nil
	}
	if rf.Size() != size {
		v.diff(p, "differs", "%d bytes here, %d in the remote", size, rf.Size())
		return nil
	}
	buf := make([]byte, format.SegmentSize/16)
	for seg := 0; seg < format.NumSegments(size); seg++ {
		s, err := rf.Segment(ctx, seg)
		if err != nil {
			v.diff(p, "corrupt", "segment %d: %v", seg, err)
			return nil
		}
		base := int64(seg) * format.SegmentSize
		segLen := format.SegmentLen(size, seg)
		for off := int64(0); off < segLen; off += int64(len(buf)) {
			n := min(int64(len(buf)), segLen-off)
			b := buf[:n]
			if _, err := f.ReadAt(b, base+off); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: %w", lp, err)
			}
			for k := int64(0); k < n; k += format.BlockSize {
				blk := b[k:min(k+format.BlockSize, n)]
				idx := int((off + k) / format.BlockSize)
				if format.BlockHash(blk) != s.Hashes[idx] {
					v.diff(p, "differs", "bytes at offset %d differ (block hash)", base+off+k)
					return nil
				}
			}
		}
	}
	if v.opts.Deep {
		return v.deep(ctx, rf, f, size, p)
	}
	return nil
}

// deep reads the whole remote file through the format and compares it
// with the local bytes.
func (v *verifier) deep(ctx context.Context, rf *browse.File, f *os.File, size int64, p string) error {
	const chunk = 4 << 20
	lb, rb := make([]byte, chunk), make([]byte, chunk)
	for off := int64(0); off < size; off += chunk {
		n := int(min(chunk, size-off))
		if _, err := f.ReadAt(lb[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		got, err := rf.ReadAt(ctx, rb[:n], off)
		if err != nil && !errors.Is(err, io.EOF) {
			v.diff(p, "corrupt", "reading offset %d from the remote: %v", off, err)
			return nil
		}
		if got != n || !bytes.Equal(lb[:n], rb[:n]) {
			v.diff(p, "differs", "bytes from offset %d differ (read back)", off)
			return nil
		}
	}
	return nil
}
