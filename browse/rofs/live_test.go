package rofs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
)

// TestMountLive commits versions of a file whose bytes differ everywhere
// (every byte of version v is v), deleting superseded objects right away
// as the writer does, while readers read it through the mount:
//
//   - O_DIRECT preads (each one READ) are each entirely one version;
//   - buffered readers never fail;
//   - once commits stop, a new open, and a descriptor held open all
//     along, both see the last version within the refresh period.
func TestMountLive(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) { testMountLive(t, r) })
	}
}

func testMountLive(t *testing.T, r remoteFor) {
	store, url, env := r.store(t)
	w := browsetest.New(t, store)
	w.FrameBlocks, w.ObjectRaw = 2, 8*format.BlockSize // many frames and objects to lose
	const size = 2*format.MaxFrameRaw + 12345
	w.WriteFile("live", bytes.Repeat([]byte{1}, size), 0o644)
	refresh := 200 * time.Millisecond
	m := newMount(t, url, env, serverConfig{Refresh: refresh})
	p := m.path("live")

	held, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	first := make([]byte, size)
	if _, err := held.ReadAt(first, 0); err != nil || first[0] != 1 || first[size-1] != 1 {
		t.Fatalf("first read: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, format.MaxFrameRaw)
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					return
				default:
				}
				n := r.IntN(len(buf)) + 1
				off := r.Int64N(size - int64(n))
				got, err := f.ReadAt(buf[:n], off)
				if err != nil {
					errs <- fmt.Errorf("O_DIRECT pread %d at %d: %v", n, off, err)
					return
				}
				for i := 1; i < got; i++ {
					if buf[i] != buf[0] {
						errs <- fmt.Errorf("O_DIRECT pread %d at %d mixed versions %d and %d", n, off, buf[0], buf[i])
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // buffered whole-file readers: no errors
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := os.ReadFile(p); err != nil {
				errs <- fmt.Errorf("buffered read: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	const last = 16
	for v := 2; v <= last; v++ {
		w.WriteFile("live", bytes.Repeat([]byte{byte(v)}, size), 0o644)
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	t.Logf("%d versions committed", last)
	settled := time.Now()
	want := bytes.Repeat([]byte{last}, size)
	deadline := time.Now().Add(3*refresh + 2*time.Second)
	for {
		fresh, err := os.ReadFile(p)
		heldNow := make([]byte, size)
		_, herr := held.ReadAt(heldNow, 0)
		if err == nil && herr == nil && bytes.Equal(fresh, want) && bytes.Equal(heldNow, want) {
			t.Logf("last version seen by a new open and the held descriptor after %v", time.Since(settled).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last version not seen within %v: new open %v (%d...), held fd %v (%d...)", time.Since(deadline.Add(-3*refresh-2*time.Second)), err, fresh[0], herr, heldNow[0])
		}
		time.Sleep(refresh / 4)
	}
}

// TestMountWarmCache: a remount with the same cache directory reads
// every file again without fetching a single data object.
func TestMountWarmCache(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) { testMountWarmCache(t, r) })
	}
}

func testMountWarmCache(t *testing.T, r remoteFor) {
	store, url, env := r.store(t)
	w := browsetest.New(t, store)
	files := append(w.WriteVariety(false), "big")
	w.WriteFile("big", browsetest.Pattern(9, 20<<20), 0o644)
	cacheDir := t.TempDir()
	readAll := func(m *testMount) {
		for _, p := range files {
			got, err := os.ReadFile(m.path(p))
			if err != nil || !bytes.Equal(got, w.Content(p)) {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	cfg := serverConfig{CacheDir: cacheDir, CacheSize: 1 << 30}
	m := newMount(t, url, env, cfg)
	readAll(m)
	cold := m.stop(t)
	m = newMount(t, url, env, cfg)
	readAll(m)
	warm := m.stop(t)
	t.Logf("cold: %d GETs (%d of data, %d bytes); warm: %d GETs (%d of data, %d bytes), cache %+v",
		cold.Gets, cold.DataGets, cold.GetBytes, warm.Gets, warm.DataGets, warm.GetBytes, warm.Cache)
	if cold.DataGets == 0 || warm.DataGets != 0 || warm.Cache.Hits == 0 {
		t.Errorf("warm remount fetched %d data objects (cold: %d), %d cache hits", warm.DataGets, cold.DataGets, warm.Cache.Hits)
	}
	if warm.GetBytes*10 > cold.GetBytes {
		t.Errorf("warm remount read %d bytes from the store, cold %d", warm.GetBytes, cold.GetBytes)
	}
}
