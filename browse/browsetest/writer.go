package browsetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// Writer writes one tree. It is not safe for concurrent use.
type Writer struct {
	Store   remote.Store
	Journal string

	// FrameBlocks is the number of 64 KiB blocks per frame, 1..16
	// (default 16: 1 MiB frames).
	FrameBlocks int
	// ObjectRaw bounds the raw bytes of one data object (default 8 MiB).
	ObjectRaw int
	// KeepGarbage leaves superseded data objects and segment manifests
	// in the store until CollectGarbage, as a writer between its commit
	// and its GC does.
	KeepGarbage bool
	// Now gives the mtime of each commit (default time.Now).
	Now func() time.Time

	t       testing.TB
	ctx     context.Context
	comp    *format.Compressor
	nextID  format.ID
	inodes  map[format.ID]*inode
	garbage []string
}

type inode struct {
	id       format.ID
	parent   format.ID
	name     string
	m        format.Manifest
	segs     map[int]*format.Segment // the current segment manifests
	data     []byte                  // the file's bytes; nil once streamed
	streamed bool
	children map[string]format.ID
}

// New writes the root marker (with a fresh journal UUID) and the root
// directory's manifest into store.
func New(t testing.TB, store remote.Store) *Writer {
	t.Helper()
	comp, err := format.NewCompressor("")
	if err != nil {
		t.Fatal(err)
	}
	var u [16]byte
	rand.Read(u[:])
	w := &Writer{Store: store, Journal: hex.EncodeToString(u[:]), t: t, ctx: context.Background(), comp: comp,
		nextID: format.RootID + 1, inodes: map[format.ID]*inode{}, Now: time.Now}
	// The writer makes format-1 segments, as a prefix made before format 2
	// holds: browse tests read format 1 through it, and format 2 from what
	// the uploader ships.
	w.PutRaw(format.RootKey, format.NewRootFormat1(w.Journal).Encode())
	root := &inode{id: format.RootID, children: map[string]format.ID{}}
	root.m = format.Manifest{Kind: format.KindDir, Mode: 0o755}
	w.inodes[format.RootID] = root
	w.commitAttrs(root)
	return w
}

func (w *Writer) frameBlocks() int {
	if w.FrameBlocks <= 0 || w.FrameBlocks > format.MaxFrameRaw/format.BlockSize {
		return format.MaxFrameRaw / format.BlockSize
	}
	return w.FrameBlocks
}

func (w *Writer) objectRaw() int {
	if w.ObjectRaw <= 0 || w.ObjectRaw > format.MaxObjectRaw {
		return format.MaxObjectRaw
	}
	return w.ObjectRaw
}

// PutRaw stores b at key, failing the test on error.
func (w *Writer) PutRaw(key string, b []byte) {
	w.t.Helper()
	if err := w.Store.Put(w.ctx, key, bytes.NewReader(b), int64(len(b)), remote.PutOptions{}); err != nil {
		w.t.Fatalf("put %s: %v", key, err)
	}
}

// GetRaw returns the object at key.
func (w *Writer) GetRaw(key string) []byte {
	w.t.Helper()
	b, err := remote.ReadAll(w.ctx, w.Store, key, 1<<30)
	if err != nil {
		w.t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// DeleteKey deletes the object at key.
func (w *Writer) DeleteKey(key string) {
	w.t.Helper()
	if err := w.Store.Delete(w.ctx, key); err != nil {
		w.t.Fatalf("delete %s: %v", key, err)
	}
}

// lookup returns the inode at a slash-separated path ("" is the root).
func (w *Writer) lookup(p string) (*inode, bool) {
	ino := w.inodes[format.RootID]
	for _, name := range splitPath(p) {
		id, ok := ino.children[name]
		if !ok {
			return nil, false
		}
		ino = w.inodes[id]
	}
	return ino, true
}

func (w *Writer) mustLookup(p string) *inode {
	w.t.Helper()
	ino, ok := w.lookup(p)
	if !ok {
		w.t.Fatalf("browsetest: no %q", p)
	}
	return ino
}

func splitPath(p string) []string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// ID returns the inode ID of the path.
func (w *Writer) ID(p string) format.ID { return w.mustLookup(p).id }

// Content returns what the file at p holds (the test's expectation).
func (w *Writer) Content(p string) []byte {
	return append([]byte(nil), w.mustLookup(p).data...)
}

// Manifest returns a copy of the current manifest of the path.
func (w *Writer) Manifest(p string) *format.Manifest {
	m := w.mustLookup(p).m
	m.Segments = append([]format.SegmentRef(nil), m.Segments...)
	m.Objects = append([]format.Object(nil), m.Objects...)
	m.Xattrs = append([]format.Xattr(nil), m.Xattrs...)
	return &m
}

// Segment returns a copy of the current segment manifest s of the file
// at p (nil if it has none).
func (w *Writer) Segment(p string, s int) *format.Segment {
	seg := w.mustLookup(p).segs[s]
	if seg == nil {
		return nil
	}
	c := *seg
	c.Hashes = append(c.Hashes[:0:0], seg.Hashes...)
	c.Extents = append(c.Extents[:0:0], seg.Extents...)
	return &c
}

// newInode makes an inode named name in the directory at dir.
func (w *Writer) newInode(dir, name string, kind format.Kind, mode uint32) *inode {
	w.t.Helper()
	parent := w.MkdirAll(dir)
	if err := format.CheckName(name); err != nil {
		w.t.Fatalf("browsetest: %v", err)
	}
	if _, ok := parent.children[name]; ok {
		w.t.Fatalf("browsetest: %s/%s exists", dir, name)
	}
	ino := &inode{id: w.nextID, parent: parent.id, name: name, segs: map[int]*format.Segment{}}
	w.nextID++
	ino.m = format.Manifest{Kind: kind, Mode: mode, UID: 1000, GID: 1000}
	if kind == format.KindDir {
		ino.children = map[string]format.ID{}
	}
	w.inodes[ino.id] = ino
	return ino
}

// link puts the dentry of ino in its parent.
func (w *Writer) link(ino *inode) {
	parent := w.inodes[ino.parent]
	parent.children[ino.name] = ino.id
	w.PutRaw(format.DentryKey(parent.id, ino.name), format.Dentry{Kind: ino.m.Kind, ID: ino.id, Name: ino.name}.Encode())
}

// MkdirAll makes the directory at p and its parents (mode 0755) as
// needed and returns it.
func (w *Writer) MkdirAll(p string) *inode {
	w.t.Helper()
	ino := w.inodes[format.RootID]
	done := ""
	for _, name := range splitPath(p) {
		if id, ok := ino.children[name]; ok {
			ino = w.inodes[id]
		} else {
			ino = w.Mkdir(path.Join(done, name), 0o755)
		}
		done = path.Join(done, name)
	}
	if ino.m.Kind != format.KindDir {
		w.t.Fatalf("browsetest: %s is not a directory", p)
	}
	return ino
}

// Mkdir makes one directory.
func (w *Writer) Mkdir(p string, mode uint32) *inode {
	w.t.Helper()
	dir, name := path.Split(p)
	ino := w.newInode(dir, name, format.KindDir, mode)
	w.commitAttrs(ino)
	w.link(ino)
	return ino
}

// Symlink makes a symbolic link to target.
func (w *Writer) Symlink(p, target string) format.ID {
	w.t.Helper()
	dir, name := path.Split(p)
	ino := w.newInode(dir, name, format.KindSymlink, 0o777)
	ino.m.Target = target
	w.commitAttrs(ino)
	w.link(ino)
	return ino.id
}

// SetAttr changes attributes of p (mode, owner, mtime, xattrs) with one
// commit; set may change anything but the data.
func (w *Writer) SetAttr(p string, set func(m *format.Manifest)) {
	w.t.Helper()
	ino := w.mustLookup(p)
	set(&ino.m)
	w.commitAttrs(ino)
}

// commitAttrs commits a new version of ino's manifest with no data change.
func (w *Writer) commitAttrs(ino *inode) {
	ino.m.Version++
	if ino.m.Mtime.IsZero() {
		ino.m.Mtime = w.Now()
	}
	if ino.m.Kind == format.KindFile {
		ino.m.SetDigest()
	}
	w.PutRaw(format.InodeKey(ino.id), ino.m.Encode())
}

// Remove deletes the entry at p and, for a file, everything it stored.
func (w *Writer) Remove(p string) {
	w.t.Helper()
	ino := w.mustLookup(p)
	parent := w.inodes[ino.parent]
	w.DeleteKey(format.DentryKey(parent.id, ino.name))
	delete(parent.children, ino.name)
	w.DeleteKey(format.InodeKey(ino.id))
	for s, seg := range ino.segs {
		w.DeleteKey(format.SegmentKey(ino.id, uint32(s), seg.Version))
	}
	for _, o := range ino.m.Objects {
		w.DeleteKey(format.DataKey(ino.id, o.Seq))
	}
	delete(w.inodes, ino.id)
}

// Rename moves the entry at from to to (which must not exist).
func (w *Writer) Rename(from, to string) {
	w.t.Helper()
	ino := w.mustLookup(from)
	old := w.inodes[ino.parent]
	oldName := ino.name
	dir, name := path.Split(to)
	parent := w.MkdirAll(dir)
	ino.parent, ino.name = parent.id, name
	w.link(ino)
	w.DeleteKey(format.DentryKey(old.id, oldName))
	delete(old.children, oldName)
}

// CollectGarbage deletes what earlier commits stopped referring to.
func (w *Writer) CollectGarbage() {
	w.t.Helper()
	for _, k := range w.garbage {
		w.DeleteKey(k)
	}
	w.garbage = nil
}
