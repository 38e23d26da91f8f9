package browse_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
)

// TestHostileNames: dentries that could escape a directory or lie about
// their name are left out of listings (one log line each) and cannot be
// looked up; sound neighbours are unaffected.
func TestHostileNames(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.w
	w.WriteFile("good", []byte("ok"), 0o644)
	target := w.ID("good")
	root := format.RootID
	w.PutDentry(root, "a%2Fb", format.Dentry{Kind: format.KindFile, ID: target, Name: "a/b"})
	w.PutDentry(root, "%2E.", format.Dentry{Kind: format.KindFile, ID: target, Name: ".."})
	w.PutDentry(root, "nul%00x", format.Dentry{Kind: format.KindFile, ID: target, Name: "nul\x00x"})
	long := strings.Repeat("x", 256)
	w.PutDentry(root, format.EscapeName(long), format.Dentry{Kind: format.KindFile, ID: target, Name: long})
	w.PutDentry(root, "liar", format.Dentry{Kind: format.KindFile, ID: target, Name: "good"}) // a second "good"
	w.PutDentry(root, "badkind", format.Dentry{Kind: 9, ID: target, Name: "badkind"})
	w.PutDentry(root, "rootid", format.Dentry{Kind: format.KindDir, ID: format.RootID, Name: "rootid"}) // a loop
	w.PutRaw(format.DirPrefix(root)+"garbage", []byte("not a dentry at all"))
	w.PutRaw(format.DirPrefix(root)+"nested/deeper", format.Dentry{Kind: format.KindFile, ID: target, Name: "deeper"}.Encode())
	w.PutRaw(format.DirPrefix(root)+"huge", bytes.Repeat([]byte("x"), 100000))

	tr := fx.open(t, browse.Options{})
	ctx := context.Background()
	ents, err := tr.ReadDir(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name != "good" || ents[0].ID != target {
		t.Fatalf("listing: %+v, want only good", ents)
	}
	logs := fx.logs.Lines()
	for _, key := range []string{"a%2Fb", "%2E.", "nul%00x", "liar", "badkind", "rootid", "garbage", "nested/deeper", "huge"} {
		n := 0
		for _, l := range logs {
			if strings.Contains(l, format.DirPrefix(root)+key+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d log lines for %s, want 1; log:\n%s", n, key, fx.logs)
		}
	}
	// Listing again logs nothing new.
	before := len(fx.logs.Lines())
	tr.ReadDir(ctx, root)
	if after := len(fx.logs.Lines()); after != before {
		t.Errorf("second listing logged %d more lines", after-before)
	}
	for _, name := range []string{"liar", "badkind", "rootid", "garbage", "..", "a/b"} {
		if _, err := tr.Lookup(ctx, root, name); err == nil {
			t.Errorf("lookup %q succeeded", name)
		}
	}
	if _, err := tr.Resolve(ctx, "../../etc/passwd"); !errors.Is(err, browse.ErrNotExist) {
		t.Errorf("resolve ../../etc/passwd: %v", err)
	}
}

// hostileCase damages a sound file "f" of 3 MiB + 5 blocks; reading it
// must fail with ErrCorrupt and one log line, never panic or hang.
type hostileCase struct {
	name   string
	damage func(t *testing.T, w *browsetest.Writer)
}

func hostileFileCases() []hostileCase {
	setSeg := func(t *testing.T, w *browsetest.Writer, edit func(s *format.Segment)) {
		m := w.Manifest("f")
		seg := w.Segment("f", 0)
		edit(seg)
		m.Segments[0].CRC = w.PutSegment(w.ID("f"), 0, m.Segments[0].Version, seg)
		w.PutManifest(w.ID("f"), m)
	}
	return []hostileCase{
		{"frame checksum", func(t *testing.T, w *browsetest.Writer) {
			w.CorruptFrame("f", w.Extents("f")[1])
		}},
		{"missing data object", func(t *testing.T, w *browsetest.Writer) {
			w.DeleteKey(format.DataKey(w.ID("f"), w.Extents("f")[0].Seq))
		}},
		{"missing segment manifest", func(t *testing.T, w *browsetest.Writer) {
			m := w.Manifest("f")
			w.DeleteKey(format.SegmentKey(w.ID("f"), 0, m.Segments[0].Version))
		}},
		{"overlapping extents", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Extents[1].Off -= format.BlockSize })
		}},
		{"extent past the size", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Extents[len(s.Extents)-1].Len += format.BlockSize })
		}},
		{"extent past its frame", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Extents[0].Skip = s.Extents[0].RawLen })
		}},
		{"frame past the object's end", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Extents[1].FrameOff += 1 << 40 })
		}},
		{"unlisted data object", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Extents[0].Seq = 77 })
			m := w.Manifest("f")
			m.NextSeq = 100
			w.PutManifest(w.ID("f"), m)
		}},
		{"wrong raw length", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) {
				s.Extents[0].RawLen -= 1
				s.Extents[0].Len = format.BlockSize
			})
		}},
		{"segment crc mismatch", func(t *testing.T, w *browsetest.Writer) {
			m := w.Manifest("f")
			m.Segments[0].CRC ^= 1
			w.PutManifest(w.ID("f"), m)
		}},
		{"segment of another version", func(t *testing.T, w *browsetest.Writer) {
			setSeg(t, w, func(s *format.Segment) { s.Version++ })
		}},
		{"manifest checksum", func(t *testing.T, w *browsetest.Writer) {
			b := w.GetRaw(format.InodeKey(w.ID("f")))
			b[20] ^= 1
			w.PutRaw(format.InodeKey(w.ID("f")), b)
		}},
		{"1 PiB manifest", func(t *testing.T, w *browsetest.Writer) {
			m := w.Manifest("f")
			m.Size = format.MaxFileSize + 1
			w.PutManifest(w.ID("f"), m)
		}},
		{"1 PiB manifest without its segments", func(t *testing.T, w *browsetest.Writer) {
			m := w.Manifest("f")
			m.Size = format.MaxFileSize
			w.PutManifest(w.ID("f"), m)
		}},
		{"manifest too large to read", func(t *testing.T, w *browsetest.Writer) {
			w.PutRaw(format.InodeKey(w.ID("f")), make([]byte, browse.MaxManifest+1))
		}},
		{"truncated data object", func(t *testing.T, w *browsetest.Writer) {
			key := format.DataKey(w.ID("f"), w.Extents("f")[0].Seq)
			b := w.GetRaw(key)
			w.PutRaw(key, b[:len(b)/3])
		}},
	}
}

func TestHostileFiles(t *testing.T) {
	for _, c := range hostileFileCases() {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			fx.w.WriteFile("f", patterned(1, 3*format.MaxFrameRaw+5*format.BlockSize), 0o644)
			fx.w.WriteFile("sound", []byte("still fine"), 0o644)
			c.damage(t, fx.w)
			tr := fx.open(t, browse.Options{})
			ctx := context.Background()
			buf := make([]byte, 3*format.MaxFrameRaw+5*format.BlockSize)
			_, err := tr.ReadAt(ctx, fx.w.ID("f"), buf, 0)
			if !errors.Is(err, browse.ErrCorrupt) {
				t.Fatalf("read: %v, want ErrCorrupt", err)
			}
			if len(fx.logs.Lines()) == 0 {
				t.Errorf("no log line")
			}
			t.Logf("error: %v; log: %s", err, strings.TrimSpace(fx.logs.String()))
			if got := readAll(t, tr, "sound"); string(got) != "still fine" {
				t.Errorf("sound file: %q", got)
			}
		})
	}
}
