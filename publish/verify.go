package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/remote"
)

// Difference is one path whose plain object is not the local file.
type Difference struct {
	Path string
	Kind string // "missing" (no object), "differs", "extra" (object without a file)
	Why  string
}

func (d Difference) String() string {
	if d.Why == "" {
		return fmt.Sprintf("%-8s %s", d.Kind, d.Path)
	}
	return fmt.Sprintf("%-8s %s: %s", d.Kind, d.Path, d.Why)
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Files       int
	Bytes       int64
	Differences []Difference
}

// Verify compares every regular file of dir (but the excluded) byte for
// byte with its plain object under prefix, and reports objects that have
// no file. It reads every object whole: what a user of the bucket gets.
func Verify(ctx context.Context, dir string, store remote.Store, prefix string, ex *exclude.Matcher) (*VerifyReport, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	r := &VerifyReport{}
	seen := map[string]bool{}
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || rel == "." {
			return err
		}
		if ex.Match(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || remote.ValidKey(prefix+rel) != nil {
			return nil // publish skips these too, and says so
		}
		seen[rel] = true
		r.Files++
		if why, err := compare(ctx, root, rel, store, prefix+rel, &r.Bytes); err != nil {
			return err
		} else if why != "" {
			kind := "differs"
			if why == "missing" {
				kind, why = "missing", ""
			}
			r.Differences = append(r.Differences, Difference{rel, kind, why})
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	err = store.List(ctx, prefix, func(oi remote.ObjectInfo) error {
		if rel := oi.Key[len(prefix):]; !seen[rel] {
			r.Differences = append(r.Differences, Difference{rel, "extra", "an object without a local file"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(r.Differences, func(i, j int) bool { return r.Differences[i].Path < r.Differences[j].Path })
	return r, nil
}

// compare returns why the object differs from the file ("" if it does
// not, "missing" if there is none); err is for what stops the comparison.
func compare(ctx context.Context, root *os.Root, rel string, store remote.Store, key string, total *int64) (string, error) {
	f, err := root.Open(rel)
	if err != nil {
		return "cannot read the local file: " + err.Error(), nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	oi, err := store.Stat(ctx, key)
	if errors.Is(err, remote.ErrNotFound) {
		return "missing", nil
	}
	if err != nil {
		return "", err
	}
	if oi.Size != fi.Size() {
		return fmt.Sprintf("%d bytes here, %d in the object", fi.Size(), oi.Size), nil
	}
	rc, err := store.Get(ctx, key, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	// Sizes are equal: read both in step.
	lb, ob := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < fi.Size(); {
		want := int(min(int64(len(lb)), fi.Size()-off))
		if _, err := io.ReadFull(f, lb[:want]); err != nil {
			return "cannot read the local file (did it change?): " + err.Error(), nil
		}
		if n, err := io.ReadFull(rc, ob[:want]); err != nil {
			return fmt.Sprintf("reading the object failed at byte %d: %v", off+int64(n), err), nil
		}
		if i := firstDiff(lb[:want], ob[:want]); i >= 0 {
			return fmt.Sprintf("bytes differ from offset %d", off+int64(i)), nil
		}
		off += int64(want)
		*total += int64(want)
	}
	return "", nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}
