package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// TestCrashWindows kills the daemon (SIGKILL, from a failpoint in the
// commit) between the data puts and the manifest commit, and between the
// manifest commit and the journal acknowledgement. A new mount on the
// same state must finish the job: after its flush, verify passes and the
// remote holds no object that no manifest refers to.
func TestCrashWindows(t *testing.T) {
	for _, point := range []string{"after-put", "after-manifest"} {
		t.Run(point, func(t *testing.T) {
			m := newMount(t, "", nil)
			writeAt(t, m.path("a.odb"), 0, randBytes(12<<20))
			m.flush()
			m.unmount()
			// Changes journaled by a mount that does not upload...
			m.args = []string{"--upload=false"}
			m.start()
			writeAt(t, m.path("a.odb"), 5<<20, randBytes(3<<20)) // supersedes objects
			writeAt(t, m.path("b.dat"), 0, randBytes(2<<20))
			m.unmount()
			// ...are shipped by one that dies in the middle.
			m.args, m.env = nil, []string{"SYNCFS_FAILPOINT=" + point}
			m.start()
			r := syncfs(t, nil, "flush", "--wait", "--timeout", "1m", m.mnt)
			if r.Code == 0 {
				t.Fatalf("flush succeeded though the daemon was to die at %s", point)
			}
			waitGone(t, m.pid())
			m.unmount() // the daemon is dead: this detaches its mount

			m.env = nil
			m.start() // takes over the dead mount's lease, requeues the claims
			m.flush()
			verifyOK(t, m, m.mnt)
			if o := orphans(t, m.remoteDir()); len(o) > 0 {
				t.Fatalf("orphaned objects after recovery: %v", o)
			}
		})
	}
}

// orphans lists data objects and segment manifests of a file:// remote
// that no inode manifest refers to.
func orphans(t *testing.T, root string) []string {
	t.Helper()
	refs := map[string]bool{}
	var all []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		key, _ := filepath.Rel(root, p)
		switch {
		case strings.HasPrefix(d.Name(), remote.ReservedPrefix):
			// A put the kill interrupted: not an object (List never
			// shows it); the file backend removes it once it is stale.
		case strings.HasPrefix(key, "i/") && strings.HasSuffix(key, "/m"):
			b, _ := os.ReadFile(p)
			m, err := format.DecodeManifest(b)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			id, _ := format.ParseID(strings.Split(key, "/")[1])
			for i, s := range m.Segments {
				if s.Version != 0 {
					refs[format.SegmentKey(id, uint32(i), s.Version)] = true
				}
			}
			for _, o := range m.Objects {
				refs[format.DataKey(id, o.Seq)] = true
			}
		case strings.HasPrefix(key, "d/"), strings.Contains(key, "/s/"):
			all = append(all, key)
		}
		return nil
	})
	var out []string
	for _, k := range all {
		if !refs[k] {
			out = append(out, k)
		}
	}
	return out
}

// TestVerifyFindsCorruption damages the remote after a flush: a flipped
// byte in a data object, a truncated data object, a damaged manifest.
// verify reports each and exits 1; nothing panics.
func TestVerifyFindsCorruption(t *testing.T) {
	m := newMount(t, "", nil)
	for _, name := range []string{"flip", "cut", "manifest"} {
		writeAt(t, m.path(name), 0, randBytes(3<<20))
	}
	m.flush()
	verifyOK(t, m, m.mnt)
	idOf := func(name string) string {
		var id string
		filepath.WalkDir(filepath.Join(m.remoteDir(), "n"), func(p string, d fs.DirEntry, err error) error {
			if !d.IsDir() && filepath.Base(p) == name {
				b, _ := os.ReadFile(p)
				de, _ := format.DecodeDentry(b)
				id = de.ID.String()
			}
			return nil
		})
		return id
	}
	obj := func(name string) string {
		ents, _ := os.ReadDir(filepath.Join(m.remoteDir(), "d", idOf(name)))
		if len(ents) == 0 {
			t.Fatalf("no data object for %s", name)
		}
		return filepath.Join(m.remoteDir(), "d", idOf(name), ents[0].Name())
	}
	p := obj("flip")
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	p = obj("cut")
	os.Truncate(p, 1000)
	p = filepath.Join(m.remoteDir(), "i", idOf("manifest"), "m")
	b, _ = os.ReadFile(p)
	b[20] ^= 1
	os.WriteFile(p, b, 0o644)

	r := syncfs(t, nil, "verify", "--remote", m.remote, m.mnt)
	if r.Code != 1 {
		t.Fatalf("verify of a damaged remote: %v", r)
	}
	for _, name := range []string{"flip", "cut", "manifest"} {
		if !strings.Contains(r.Stdout, name+":") {
			t.Errorf("verify did not report %s:\n%s", name, r.Stdout)
		}
	}
	if strings.Contains(r.Stderr, "panic") {
		t.Fatal(r.Stderr)
	}
	// The quick check trusts the data objects: it still catches the
	// damaged manifest.
	r = syncfs(t, nil, "verify", "--quick", "--remote", m.remote, m.mnt)
	if r.Code != 1 || !strings.Contains(r.Stdout, "manifest:") {
		t.Fatalf("verify --quick: %v", r)
	}
}
