package uploader

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

// rig is a journal, a backing dir and a store wired to an uploader, with
// the fs layer's part played by the test: it writes backing files and
// records the ranges itself.
type rig struct {
	t       *testing.T
	j       *journal.Journal
	backing string
	store   remote.Store
	u       *Uploader
	ctx     context.Context
}

func newRig(t *testing.T, store remote.Store, cfg Config) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, backing: filepath.Join(dir, "backing"), store: store, ctx: context.Background()}
	if r.store == nil {
		r.store = mem.New("mem")
	}
	os.Mkdir(r.backing, 0o755)
	j, err := journal.Open(filepath.Join(dir, "state"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r.j = j
	b, err := beneath.Open(r.backing)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	// A new prefix is format 2; Format: format.Version asks for a format-1
	// prefix, as syncfs made before format 2.
	root := format.NewRoot(j.UUID())
	if cfg.Format == format.Version {
		root = format.NewRootFormat1(j.UUID())
	}
	claimOn := r.store
	if p, ok := claimOn.(*permStore); ok {
		claimOn = p.Store // the marker was there before puts were refused
	}
	if _, err := claimRemote(r.ctx, claimOn, root); err != nil {
		t.Fatal(err)
	}
	cfg.Format = root.Format
	r.u, err = New(j, r.store, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); j.Close() })
	return r
}

// create makes a file in the backing root and records it.
func (r *rig) create(name string) journal.ID {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.backing, name), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	id, err := r.j.Create(journal.RootID, name, journal.KindFile, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// write writes data at off and records the range, as the fs layer does.
func (r *rig) write(id journal.ID, name string, off int64, data []byte) {
	r.t.Helper()
	f, err := os.OpenFile(filepath.Join(r.backing, name), os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		r.t.Fatal(err)
	}
	r.j.RecordWrite(id, off, int64(len(data)))
}

func (r *rig) truncate(id journal.ID, name string, size int64) {
	r.t.Helper()
	p := filepath.Join(r.backing, name)
	st, _ := os.Stat(p)
	if err := os.Truncate(p, size); err != nil {
		r.t.Fatal(err)
	}
	if err := r.j.Truncate(id, st.Size(), size); err != nil {
		r.t.Fatal(err)
	}
}

// flush ships everything recorded so far, as flush --wait does.
func (r *rig) flush() {
	r.t.Helper()
	if err := r.j.Sync(); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.u.replayOps(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	dirty, _ := r.j.Dirty()
	for id := range dirty {
		if err := r.u.commit(r.ctx, id); err != nil {
			r.t.Fatalf("commit %v: %v", id, err)
		}
	}
	if ok, _ := r.j.Settled(r.j.Gen()); !ok {
		r.t.Fatal("journal not settled after a flush")
	}
}

func (r *rig) local(name string) []byte {
	b, err := os.ReadFile(filepath.Join(r.backing, name))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// readBack reassembles inode id from the store, checking on the way every
// invariant a reader relies on: checksums, block hashes and digests match
// the bytes, the object table's live counts match the extents, and the
// store holds no object the manifest does not refer to.
func readBack(t *testing.T, store remote.Store, id journal.ID) []byte {
	t.Helper()
	ctx := context.Background()
	fid := format.ID(id)
	b, err := remote.ReadAll(ctx, store, format.InodeKey(fid), 1<<26)
	if err != nil {
		t.Fatalf("manifest of %v: %v", id, err)
	}
	m, err := format.DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, m.Size)
	live := map[uint64]int64{}
	wantKeys := map[string]bool{}
	digest := *m
	for i, ref := range m.Segments {
		seg := format.ZeroSegment(i, m.Size)
		if ref.Version != 0 {
			key := format.SegmentKey(fid, uint32(i), ref.Version)
			wantKeys[key] = true
			sb, err := remote.ReadAll(ctx, store, key, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if format.CRC(sb) != ref.CRC {
				t.Fatalf("segment %d crc", i)
			}
			if seg, err = format.DecodeSegment(sb, uint32(i), ref.Version, m.Size); err != nil {
				t.Fatal(err)
			}
		}
		if seg.Digest() != ref.Digest {
			t.Fatalf("segment %d digest differs from the manifest's", i)
		}
		base := int64(i) * format.SegmentSize
		for _, x := range seg.Extents {
			rc, err := store.Get(ctx, format.DataKey(fid, x.Seq), int64(x.FrameOff), int64(x.FrameLen))
			if err != nil {
				t.Fatalf("segment %d extent %+v: %v", i, x, err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			raw, err := format.Decode(nil, stored, x.Codec, x.RawLen, x.CRC)
			if err != nil {
				t.Fatal(err)
			}
			copy(out[base+int64(x.Off):], raw[x.Skip:x.Skip+x.Len])
			live[x.Seq] += int64(x.Len)
		}
		for k, h := range seg.Hashes {
			a := base + int64(k)*format.BlockSize
			if format.BlockHash(out[a:min(a+format.BlockSize, m.Size)]) != h {
				t.Fatalf("block %d of segment %d: hash does not match the bytes", k, i)
			}
		}
	}
	digest.SetDigest()
	if digest.Digest != m.Digest {
		t.Fatal("file digest does not match the segment digests")
	}
	for _, o := range m.Objects {
		if live[o.Seq] != o.Live || o.Live == 0 {
			t.Fatalf("object %d: table says %d live bytes, extents %d", o.Seq, o.Live, live[o.Seq])
		}
		wantKeys[format.DataKey(fid, o.Seq)] = true
		delete(live, o.Seq)
	}
	if len(live) != 0 {
		t.Fatalf("extents refer to objects missing from the table: %v", live)
	}
	var got []string
	for _, p := range []string{format.DataPrefix(fid), format.SegmentPrefix(fid)} {
		store.List(ctx, p, func(o remote.ObjectInfo) error {
			if !wantKeys[o.Key] {
				got = append(got, o.Key)
			}
			return nil
		})
	}
	if len(got) > 0 {
		t.Fatalf("garbage left in the store: %v", got)
	}
	return out
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes vs %d, first difference at %d", what, len(got), len(want), i)
	}
}

// dentryNames lists the names of directory dir in the store.
func dentryNames(t *testing.T, store remote.Store, dir journal.ID) []string {
	var names []string
	store.List(context.Background(), format.DirPrefix(format.ID(dir)), func(o remote.ObjectInfo) error {
		b, err := remote.ReadAll(context.Background(), store, o.Key, 4096)
		if err != nil {
			return err
		}
		d, err := format.DecodeDentry(b)
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		names = append(names, fmt.Sprintf("%s:%v", d.Name, d.Kind))
		return nil
	})
	return names
}

func joined(s []string) string { return strings.Join(s, " ") }
