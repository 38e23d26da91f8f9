// Package publish puts a plain copy of every file of a local tree beside
// syncfs's delta format: one object per file at <prefix><path>,
// byte-identical to the local file, readable by any S3 tool (rclone, aws
// s3 cp, a web portal, a presigned URL), with the file's mtime, mode and
// SHA-256 in the object's metadata.
//
// Cost follows the change here too. Each run records, per file, its
// stat, its SHA-256 and the SHA-256 of each block (1 MiB; 256 KiB on a
// directory store). A file whose stat is unchanged costs nothing. A
// changed file is read locally (to hash it), and its new object is
// composed from the ranges of the previous object whose blocks did not
// change (S3 UploadPartCopy: copied inside the store, not sent) and the
// rest (sent), within S3's part limits (plan.go). A renamed file is copied
// inside the store from its old key. Files gone from the tree lose their
// objects, after every new object is in place.
//
// Crash safety: an object appears whole or not at all (Compose is atomic
// like Put); what an interrupted run left (incomplete multipart uploads)
// is aborted at the next start; records are written only after their
// object is complete, and a record whose object was replaced behind our
// back fails the copy's ETag condition, so the part is sent instead.
// Publishing reads only the local tree and writes only under the prefix:
// it never touches the deltas.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/internal/backoff"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/remote"
)

// Prefix is where plain objects go under a syncfs remote's prefix.
const Prefix = "files/"

// Options says what to publish where.
type Options struct {
	Dir      string           // the local tree (a mount's backing dir)
	Store    remote.Store     // the target; a remote.Composer copies unchanged parts inside it
	Prefix   string           // key prefix of the objects, e.g. Prefix
	Records  *Records         // what the last runs published; nil: every file is sent whole
	Exclude  *exclude.Matcher // names never published (mount --exclude)
	Workers  int              // files published at once; 0 means 4
	Settle   time.Duration    // files modified less than this ago wait (counted in Held); 0: none wait
	Progress func(Report)     // called about once a second with the counts so far
}

// Report counts what a run did.
type Report struct {
	Files       int      `json:"files"`        // regular files in the tree
	Published   int      `json:"published"`    // objects written
	Unchanged   int      `json:"unchanged"`    // files whose object was already current
	Held        int      `json:"held"`         // files still being written (Options.Settle), left for the next run
	Renamed     int      `json:"renamed"`      // objects copied inside the store from a key now gone
	Deleted     int      `json:"deleted"`      // objects of files gone from the tree
	Aborted     int      `json:"aborted"`      // incomplete uploads of an earlier run freed
	BytesRead   int64    `json:"bytes_read"`   // read from the local tree
	BytesSent   int64    `json:"bytes_sent"`   // sent to the store
	BytesCopied int64    `json:"bytes_copied"` // copied inside the store (not sent)
	Skipped     []string `json:"skipped"`      // entries that have no plain object, and why
	Errors      []string `json:"errors"`       // files that could not be published
	Notes       []string `json:"notes"`        // what the user should know (the store cannot copy parts)
}

// Run publishes the tree once.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	p := &run{o: o, root: root, r: &Report{Skipped: []string{}, Errors: []string{}, Notes: []string{}}, seen: map[string]bool{}}
	if c, ok := o.Store.(remote.Composer); ok {
		p.comp = c
		n, err := c.AbortCompositions(ctx, o.Prefix)
		if err != nil {
			return nil, fmt.Errorf("freeing the uploads an earlier publish left: %w", err)
		}
		p.r.Aborted = n
		if o.Records != nil {
			left, err := o.Records.pending()
			if err != nil {
				return nil, err
			}
			for _, rel := range left {
				n, err := c.AbortCompositions(ctx, o.Prefix+rel)
				if err != nil {
					return nil, fmt.Errorf("freeing the upload an earlier publish left for %s: %w", rel, err)
				}
				p.r.Aborted += n
				if err := o.Records.setPending(rel, false); err != nil {
					return nil, err
				}
			}
		}
	}
	if o.Records != nil {
		if p.old, err = o.Records.all(); err != nil {
			return nil, err
		}
	}
	var files []string
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			p.skip(rel, err.Error())
			return nil
		}
		if rel == "." {
			return nil
		}
		if o.Exclude.Match(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
		case d.Type().IsRegular():
			if err := remote.ValidKey(o.Prefix + rel); err != nil {
				p.skip(rel, err.Error())
				return nil
			}
			files = append(files, rel)
			p.seen[rel] = true
		case d.Type()&fs.ModeSymlink != 0:
			p.skip(rel, "a symbolic link (object stores have none)")
		default:
			p.skip(rel, "not a regular file")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.r.Files = len(files)
	// One listing of the objects: a record whose object is gone or of
	// another size (deleted or replaced behind publish's back) is not
	// trusted, and what no file has any more is deleted at the end.
	p.listed = map[string]int64{}
	err = o.Store.List(ctx, o.Prefix, func(oi remote.ObjectInfo) error {
		p.listed[oi.Key[len(o.Prefix):]] = oi.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", o.Prefix, err)
	}
	// Records of paths gone from the tree, by content: a new path with the
	// same content is a rename, copied inside the store.
	p.gone = map[string]string{}
	for rel, rec := range p.old {
		if !p.seen[rel] {
			p.gone[rec.SHA256] = rel
		}
	}

	stop := p.progress(ctx)
	work := make(chan string)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range work {
				if err := p.file(ctx, rel); err != nil {
					p.fail(rel, err)
				}
			}
		}()
	}
	for _, rel := range files {
		if ctx.Err() != nil {
			break
		}
		work <- rel
	}
	close(work)
	wg.Wait()
	stop()
	if err := ctx.Err(); err != nil {
		return p.r, err
	}
	if len(p.r.Errors) == 0 {
		// Deletes last, so that a rename could copy from the old key. A
		// run with errors deletes nothing: an object it failed to replace
		// may be all there is.
		if err := p.deleteGone(ctx); err != nil {
			return p.r, err
		}
	}
	sort.Strings(p.r.Skipped)
	sort.Strings(p.r.Errors)
	return p.r, nil
}

type run struct {
	o      Options
	root   *os.Root
	comp   remote.Composer
	old    map[string]*record
	gone   map[string]string // SHA-256 -> path, of records whose path is gone
	seen   map[string]bool
	listed map[string]int64 // objects under the prefix at the start, and their sizes

	mu sync.Mutex
	r  *Report

	read, sent, copied atomic.Int64
	noCopy             atomic.Bool // the store said it cannot copy parts
}

func (p *run) skip(rel, why string) {
	p.mu.Lock()
	p.r.Skipped = append(p.r.Skipped, rel+": "+why)
	p.mu.Unlock()
}

func (p *run) fail(rel string, err error) {
	p.mu.Lock()
	p.r.Errors = append(p.r.Errors, rel+": "+err.Error())
	p.mu.Unlock()
}

func (p *run) count(f func(r *Report)) {
	p.mu.Lock()
	f(p.r)
	p.mu.Unlock()
}

// progress calls Options.Progress every second until the returned stop.
func (p *run) progress(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.snapshot()
				return
			case <-ctx.Done():
				p.snapshot()
				return
			case <-t.C:
				if p.o.Progress != nil {
					p.o.Progress(*p.snapshot())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *run) snapshot() *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.r.BytesRead, p.r.BytesSent, p.r.BytesCopied = p.read.Load(), p.sent.Load(), p.copied.Load()
	return p.r
}

// attempts bounds how often one file is tried: a file that changes while
// it is read, or a transient store error.
const attempts = 4

func (p *run) file(ctx context.Context, rel string) error {
	f, err := p.root.OpenFile(rel, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Removed since the walk (a job's temporary file): as if it had
		// not been there, so that an object it had goes too.
		p.mu.Lock()
		delete(p.seen, rel)
		p.r.Files--
		p.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var err2 error
	for attempt := 1; attempt <= attempts; attempt++ {
		var done bool
		done, err2 = p.once(ctx, rel, f)
		if done || err2 == nil {
			return err2
		}
		if remote.IsPermanent(err2) && !errors.Is(err2, errChanged) {
			return err2
		}
		if err := backoff.Sleep(ctx, backoff.Jitter(attempt, 200*time.Millisecond, 5*time.Second)); err != nil {
			return err
		}
	}
	return err2
}

var errChanged = errors.New("changed while it was published (tried again, in vain: publish it once it is closed)")

// once publishes rel once; done says the error (or success) is final.
func (p *run) once(ctx context.Context, rel string, f *os.File) (done bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return true, err
	}
	now := statOf(&st)
	old := p.old[rel]
	if size, ok := p.listed[rel]; old != nil && (!ok || size != old.stat.size) {
		old = nil // the object is gone or not the one recorded
	}
	if old != nil && old.stat == now {
		p.count(func(r *Report) { r.Unchanged++ })
		return true, nil
	}
	if p.o.Settle > 0 && time.Since(time.Unix(0, max(now.mtime, now.ctime))) < p.o.Settle {
		p.count(func(r *Report) { r.Held++ })
		return true, nil
	}
	bs := BlockSize(st.Size, p.blockBase())
	sum, blocks, err := hashFile(f, st.Size, bs)
	if err != nil {
		return !errors.Is(err, errChanged), err // a file that shrank is read again
	}
	p.read.Add(st.Size)
	rec := &record{stat: now, SHA256: sum, BlockSize: bs, Blocks: blocks}
	plan, renamedFrom := p.plan(rel, old, rec, f, st.Size)
	partSize := PartSize(st.Size)
	meta := map[string]string{
		"mtime":  fmt.Sprintf("%d.%09d", st.Mtim.Sec, st.Mtim.Nsec),
		"mode":   strconv.FormatUint(uint64(st.Mode&0o7777), 8),
		"sha256": sum,
	}
	key := p.o.Prefix + rel
	if multi := len(plan) > 1 || plan[0].From != ""; multi && p.o.Records != nil {
		if err := p.o.Records.setPending(rel, true); err != nil {
			return true, err
		}
		defer p.o.Records.setPending(rel, false)
	}
	etag, err := p.put(ctx, key, plan, meta, f, st.Size)
	if errors.Is(err, remote.ErrCopyUnsupported) && p.noCopy.CompareAndSwap(false, true) {
		p.count(func(r *Report) {
			r.Notes = append(r.Notes, "the remote cannot copy parts of objects (no UploadPartCopy): changed files are sent whole")
		})
	}
	if errors.Is(err, remote.ErrSourceChanged) || errors.Is(err, remote.ErrCopyUnsupported) {
		// The old object is not the one recorded, or the store cannot
		// copy: send everything.
		plan = wholePlan(f, st.Size, partSize)
		renamedFrom = ""
		etag, err = p.put(ctx, key, plan, meta, f, st.Size)
	}
	if err != nil {
		return false, err
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return true, err
	}
	if statOf(&after) != now {
		return false, errChanged
	}
	for _, pt := range plan {
		if pt.From != "" {
			p.copied.Add(pt.Size)
		} else {
			p.sent.Add(pt.Size)
		}
	}
	rec.ETag = etag
	if p.o.Records != nil {
		if err := p.o.Records.put(rel, rec); err != nil {
			return true, err
		}
	}
	p.count(func(r *Report) {
		r.Published++
		if renamedFrom != "" {
			r.Renamed++
		}
	})
	return true, nil
}

// blockBase is the hashing unit: 1 MiB, or the store's smaller minimum
// part (a directory: 256 KiB).
func (p *run) blockBase() int64 {
	if ps, ok := p.o.Store.(remote.PartSizer); ok {
		return ps.MinPartSize()
	}
	return 1 << 20
}

// minPart is the smallest part (but the last) the store takes.
func (p *run) minPart() int64 {
	if _, ok := p.o.Store.(remote.PartSizer); ok {
		return 0
	}
	return remote.MinPart
}

// plan chooses the parts of rel's new object: copies of the ranges whose
// blocks did not change since the recorded object, new bytes for the rest
// (see plan.go); or, for a path not published before whose content was
// published under a path now gone, a copy of that object.
func (p *run) plan(rel string, old, rec *record, f *os.File, size int64) (parts []remote.Part, renamedFrom string) {
	whole := wholePlan(f, size, PartSize(size))
	if p.comp == nil || p.noCopy.Load() || size == 0 {
		return whole, ""
	}
	if old == nil {
		from := p.gone[rec.SHA256]
		if _, ok := p.listed[from]; from == "" || !ok {
			return whole, ""
		}
		old, renamedFrom = p.old[from], from
	}
	if old.BlockSize != rec.BlockSize || old.ETag == "" {
		return whole, ""
	}
	src := p.o.Prefix + rel
	if renamedFrom != "" {
		src = p.o.Prefix + renamedFrom
	}
	// Equal block hashes mean equal bytes and lengths: such a range is
	// copied from the old object, whose ETag the store checks.
	same := func(i int) bool { return i < old.blocks() && i < rec.blocks() && old.block(i) == rec.block(i) }
	ss := split(segments(size, rec.BlockSize, same, p.minPart()), p.minPart())
	if p.minPart() > 0 && len(ss) > remote.MaxParts {
		return whole, ""
	}
	return toParts(ss, f, src, old.ETag), renamedFrom
}

func wholePlan(f *os.File, size, partSize int64) []remote.Part {
	var parts []remote.Part
	for off := int64(0); off < size || len(parts) == 0; off += partSize {
		n := min(partSize, size-off)
		parts = append(parts, remote.Part{Size: n, Body: io.NewSectionReader(f, off, n)})
		if size == 0 {
			break
		}
	}
	return parts
}

// put stores plan at key: Compose where the store can, else one Put of
// the file (plan is then wholePlan's).
func (p *run) put(ctx context.Context, key string, plan []remote.Part, meta map[string]string, f *os.File, size int64) (string, error) {
	if p.comp != nil {
		return p.comp.Compose(ctx, key, plan, meta)
	}
	return "", p.o.Store.Put(ctx, key, io.NewSectionReader(f, 0, size), size, remote.PutOptions{})
}

// deleteGone removes the objects under the prefix that no file of the tree
// has any more, and their records.
func (p *run) deleteGone(ctx context.Context) error {
	var gone []string
	for rel := range p.listed {
		if !p.seen[rel] {
			gone = append(gone, rel)
		}
	}
	sort.Strings(gone)
	for _, rel := range gone {
		if err := p.o.Store.Delete(ctx, p.o.Prefix+rel); err != nil {
			return err
		}
		p.r.Deleted++
	}
	if p.o.Records == nil {
		return nil
	}
	var drop []string
	for rel := range p.old {
		if !p.seen[rel] {
			drop = append(drop, rel)
		}
	}
	return p.o.Records.drop(drop)
}

// PartSize is the part size of a file of size bytes sent whole: 8 MiB, or
// more for a file that would need more than remote.MaxParts parts
// (rounded up to MiB).
func PartSize(size int64) int64 {
	ps := int64(8 << 20)
	if need := (size + remote.MaxParts - 1) / remote.MaxParts; need > ps {
		ps = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// hashFile reads f whole and returns its SHA-256 (hex) and the SHA-256 of
// each part.
func hashFile(f *os.File, size, partSize int64) (string, []byte, error) {
	whole := sha256.New()
	var parts []byte
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += partSize {
		h := sha256.New()
		n := min(partSize, size-off)
		got, err := io.CopyBuffer(io.MultiWriter(whole, h), io.NewSectionReader(f, off, n), buf)
		if err != nil {
			return "", nil, err
		}
		if got < n {
			return "", nil, errChanged // shrank while read
		}
		parts = h.Sum(parts)
	}
	return hex.EncodeToString(whole.Sum(nil)), parts, nil
}
