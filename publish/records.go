package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	bolt "go.etcd.io/bbolt"
)

// Records is what earlier runs published, one record per path, in a
// bbolt file of its own per target (RecordsPath): publishing runs beside a
// mounted daemon, which holds the journal, and a second publish of the
// same state waits for none (the file lock fails it at once).
type Records struct {
	db *bolt.DB
}

var (
	bucketFiles   = []byte("files")
	bucketPending = []byte("pending") // paths whose object is being composed
)

// ErrBusy: another publish holds the records.
var ErrBusy = errors.New("another syncfs publish is running with this state dir")

// RecordsPath is the records file of publishing to remoteURL from the
// state dir stateDir: one per target, since what one remote holds says
// nothing of another's objects.
func RecordsPath(stateDir, remoteURL string) string {
	sum := sha256.Sum256([]byte(strings.TrimSuffix(remoteURL, "/")))
	return filepath.Join(stateDir, "publish-"+hex.EncodeToString(sum[:8])+".db")
}

// OpenRecords opens (creating) the records file at path.
func OpenRecords(path string) (*Records, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("publish records %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketFiles); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketPending)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Records{db: db}, nil
}

// Close closes the file.
func (r *Records) Close() error { return r.db.Close() }

// fileStat is what tells a file unchanged since it was published.
type fileStat struct {
	size, mtime, ctime int64
	ino                uint64
	mode               uint32
}

func statOf(st *unix.Stat_t) fileStat {
	return fileStat{size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino, mode: st.Mode}
}

// record is one published file (docs/format.md, "Plain objects").
type record struct {
	stat      fileStat
	SHA256    string // of the whole file, hex
	BlockSize int64
	Blocks    []byte // SHA-256 of each block of BlockSize bytes (the last shorter), concatenated
	ETag      string // of the object, as the store gave it
}

type recordJSON struct {
	Size      int64  `json:"size"`
	Mtime     int64  `json:"mtime_ns"`
	Ctime     int64  `json:"ctime_ns"`
	Ino       uint64 `json:"ino"`
	Mode      uint32 `json:"mode"`
	SHA256    string `json:"sha256"`
	BlockSize int64  `json:"block_size"`
	Blocks    []byte `json:"blocks"`
	ETag      string `json:"etag"`
}

func (r *record) blocks() int { return len(r.Blocks) / 32 }

func (r *record) block(i int) [32]byte { return [32]byte(r.Blocks[i*32 : i*32+32]) }

func (r *Records) put(rel string, rec *record) error {
	b, err := json.Marshal(recordJSON{rec.stat.size, rec.stat.mtime, rec.stat.ctime, rec.stat.ino, rec.stat.mode, rec.SHA256, rec.BlockSize, rec.Blocks, rec.ETag})
	if err != nil {
		return err
	}
	return r.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFiles).Put([]byte(rel), b)
	})
}

func (r *Records) drop(rels []string) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFiles)
		for _, rel := range rels {
			if err := b.Delete([]byte(rel)); err != nil {
				return err
			}
		}
		return nil
	})
}

// all reads every record; a record that does not decode is left out (its
// file is then published whole, which is always right).
func (r *Records) all() (map[string]*record, error) {
	out := map[string]*record{}
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFiles).ForEach(func(k, v []byte) error {
			var j recordJSON
			if json.Unmarshal(v, &j) != nil || len(j.Blocks)%32 != 0 || j.BlockSize <= 0 {
				return nil
			}
			out[string(k)] = &record{stat: fileStat{j.Size, j.Mtime, j.Ctime, j.Ino, j.Mode}, SHA256: j.SHA256, BlockSize: j.BlockSize, Blocks: j.Blocks, ETag: j.ETag}
			return nil
		})
	})
	return out, err
}

// setPending notes (on) or forgets that rel's object is being composed: a
// run killed meanwhile leaves an incomplete upload that the next run
// frees. (Listing every incomplete upload under a prefix would do without
// this, but MinIO lists only those of one exact key.)
func (r *Records) setPending(rel string, on bool) error {
	return r.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		if on {
			return b.Put([]byte(rel), nil)
		}
		return b.Delete([]byte(rel))
	})
}

// pending returns the paths noted by setPending and not forgotten.
func (r *Records) pending() ([]string, error) {
	var out []string
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}
