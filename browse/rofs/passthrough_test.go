package rofs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
)

// TestMountPassthrough: a quiet file read whole through the daemon gets
// an image in the disk cache, and later opens are served by the kernel
// from it, with the right bytes; a daemon handle open keeps new opens in
// the daemon; a new version is read through the daemon again until it
// has its own image; a file still being written never goes passthrough.
func TestMountPassthrough(t *testing.T) {
	store, url, env := remotes[0].store(t)
	w := browsetest.New(t, store)
	w.Now = func() time.Time { return time.Now().Add(-time.Hour) } // a finished job's results
	v1 := browsetest.Pattern(1, 3*format.MaxFrameRaw+5)
	w.WriteFile("big", v1, 0o644)
	w.Now = time.Now
	w.WriteFile("busy", browsetest.Pattern(2, 2*format.MaxFrameRaw), 0o644)
	cacheDir := t.TempDir()
	m := newMount(t, url, env, serverConfig{CacheDir: cacheDir, CacheSize: 1 << 30, Refresh: 200 * time.Millisecond})
	p := m.path("big")
	read := func(want []byte) {
		t.Helper()
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read big: %d bytes, %v", len(got), err)
		}
	}
	read(v1) // through the daemon; builds the image
	waitImages(t, cacheDir, 1)
	read(v1) // passthrough
	a, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	read(v1) // passthrough while another passthrough handle is open
	a.Close()
	for i := 0; i < 2; i++ {
		if b, _ := os.ReadFile(m.path("busy")); !bytes.Equal(b, w.Content("busy")) {
			t.Fatal("busy")
		}
	}

	v2 := browsetest.Pattern(3, 2*format.MaxFrameRaw+9)
	w.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	w.WriteFile("big", v2, 0o644)
	time.Sleep(1500 * time.Millisecond) // past the manifest's one-second reuse
	read(v2)                            // the new version, through the daemon
	read(v2)                            // its image
	st := m.stop(t)
	t.Logf("mount %+v, cache %+v", st.FS, st.Cache)
	if st.Cache.Images != 2 || st.FS.Passthrough < 3 {
		t.Errorf("%d images built, %d passthrough opens; want 2 and at least 3", st.Cache.Images, st.FS.Passthrough)
	}
	if st.Cache.Writes != 2 { // busy's two frames; big's are in its images
		t.Errorf("%d frame entries written, want 2", st.Cache.Writes)
	}
}

// waitImages waits until the cache holds n images (written in the
// background once complete).
func waitImages(t *testing.T, dir string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		got, _ := filepath.Glob(filepath.Join(dir, "v1", "*", "*", "v*"))
		if len(got) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d images after 10s, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
