package browse

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/syncfs/syncfs/format"
)

// maxFollow bounds how many newer versions one read chases: a file
// committed faster than it can be read still gets an answer (an error).
const maxFollow = 5

// Follow runs read with f. When it fails with ErrStale (the writer
// deleted what f's version refers to, after committing a newer one), it
// reads the manifest again and, if there is a newer version, runs the
// whole of read again with it. An unchanged version means the manifest
// points to objects that do not exist: that is ErrCorrupt. Follow returns
// the File the read ran with last.
func (t *Tree) Follow(ctx context.Context, f *File, read func(*File) error) (*File, error) {
	for attempt := 0; ; attempt++ {
		err := read(f)
		if !errors.Is(err, ErrStale) {
			return f, err
		}
		m, serr := t.Stat(ctx, f.id)
		if serr != nil {
			return f, serr
		}
		if m.Version == f.m.Version {
			missing := "an object"
			var se *staleError
			if errors.As(err, &se) {
				missing = se.key
			}
			t.warn.corrupt("%s: inode %v version %d refers to missing %s", t.store, f.id, m.Version, missing)
			return f, fmt.Errorf("%w: version %d of inode %v refers to missing %s", ErrCorrupt, m.Version, f.id, missing)
		}
		if m.Kind != format.KindFile {
			return f, notExist("inode %v is now a %v", f.id, m.Kind)
		}
		if attempt == maxFollow {
			return f, fmt.Errorf("inode %v changed %d times during one read: %w", f.id, maxFollow, err)
		}
		f = t.File(f.id, m)
	}
}

// ReadAt reads the current version of file id at off, following newer
// versions as Follow does. Like io.ReaderAt, it returns io.EOF with a
// short count at the end of the file.
func (t *Tree) ReadAt(ctx context.Context, id format.ID, p []byte, off int64) (int, error) {
	f, err := t.OpenFile(ctx, id)
	if err != nil {
		return 0, err
	}
	var n int
	_, err = t.Follow(ctx, f, func(f *File) error {
		var err error
		n, err = f.ReadAt(ctx, p, off)
		if err == io.EOF {
			return nil
		}
		return err
	})
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
