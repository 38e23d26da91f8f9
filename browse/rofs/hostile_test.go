package rofs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
)

// TestMountHostile: a remote with hostile names and broken files. The
// names are not listed and cannot be reached; each broken file gives EIO
// and a log line; the sound files still read.
func TestMountHostile(t *testing.T) {
	store, url, env := remotes[0].store(t)
	w := browsetest.New(t, store)
	w.WriteFile("good", []byte("fine"), 0o644)
	w.WriteFile("corrupt", browsetest.Pattern(1, 3*format.MaxFrameRaw), 0o644)
	w.CorruptFrame("corrupt", w.Extents("corrupt")[1])
	w.WriteFile("missing-object", browsetest.Pattern(2, format.MaxFrameRaw), 0o644)
	w.DeleteKey(format.DataKey(w.ID("missing-object"), w.Extents("missing-object")[0].Seq))
	w.WriteFile("petabyte", []byte("x"), 0o644)
	m := w.Manifest("petabyte")
	m.Size = format.MaxFileSize + 1
	w.PutManifest(w.ID("petabyte"), m)
	w.WriteFile("overlap", browsetest.Pattern(3, 2*format.MaxFrameRaw), 0o644)
	seg := w.Segment("overlap", 0)
	seg.Extents[1].Off -= format.BlockSize
	mo := w.Manifest("overlap")
	mo.Segments[0].CRC = w.PutSegment(w.ID("overlap"), 0, mo.Segments[0].Version, seg)
	w.PutManifest(w.ID("overlap"), mo)
	good := w.ID("good")
	w.PutDentry(format.RootID, "dotdot", format.Dentry{Kind: format.KindDir, ID: good, Name: ".."})
	w.PutDentry(format.RootID, "a%2Fb", format.Dentry{Kind: format.KindFile, ID: good, Name: "a/b"})
	w.PutDentry(format.RootID, "liar", format.Dentry{Kind: format.KindFile, ID: good, Name: "good"})
	w.PutDentry(format.RootID, "ghost", format.Dentry{Kind: format.KindFile, ID: w.NewID(), Name: "ghost"})

	mnt := newMount(t, url, env, serverConfig{})
	ents, err := os.ReadDir(mnt.path(""))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"corrupt", "ghost", "good", "missing-object", "overlap", "petabyte"}; !equalStrings(names, want) {
		t.Errorf("listing %q, want %q", names, want)
	}
	for _, p := range []string{"corrupt", "missing-object", "overlap"} {
		if _, err := os.ReadFile(mnt.path(p)); !errors.Is(err, syscall.EIO) {
			t.Errorf("%s: %v, want EIO", p, err)
		}
	}
	if _, err := os.Stat(mnt.path("petabyte")); !errors.Is(err, syscall.EIO) {
		t.Errorf("petabyte: %v, want EIO", err)
	}
	if _, err := os.Stat(mnt.path("ghost")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ghost (no manifest): %v, want ENOENT", err)
	}
	for _, p := range []string{"liar", "dotdot"} {
		if _, err := os.Stat(mnt.path(p)); err == nil {
			t.Errorf("%s can be reached", p)
		}
	}
	if b, err := os.ReadFile(mnt.path("good")); err != nil || string(b) != "fine" {
		t.Errorf("good: %q, %v", b, err)
	}
	mnt.stop(t)
	logs := mnt.logs.String()
	for _, want := range []string{"CRC check failed", "refers to missing d/", "past the 1 PiB limit", "overlap", "n/0000000000000001/dotdot", "n/0000000000000001/liar", "has no manifest"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
