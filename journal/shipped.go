package journal

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Seen is the state of a backing file for which the journal is known to
// be complete: what the uploader shipped, or what a clean unmount left.
// A file whose size, mtime and ctime still match needs no comparison at
// the next start; one that differs was changed behind the journal's back
// (or while it was not running) and is compared block by block.
type Seen struct {
	Size, Mtime, Ctime int64 // bytes; nanoseconds since the epoch
}

// SeenOf is the state of a file as fstat gives it.
func SeenOf(st *unix.Stat_t) Seen {
	return Seen{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// Shipped is what one commit of the uploader leaves in the journal: the
// state of the file it shipped, and the block hashes of the segments it
// rewrote (so later comparisons need no remote request and no second
// copy of the data).
type Shipped struct {
	Seen     Seen
	Segments int            // segments of the file now
	Hashes   map[int][]byte // segment -> 16-byte block hashes, concatenated
	Version  uint64         // of the inode manifest committed; 0: unknown
}

func (s Seen) encode() []byte {
	b := binary.AppendVarint(nil, s.Size)
	b = binary.AppendVarint(b, s.Mtime)
	return binary.AppendVarint(b, s.Ctime)
}

func decodeSeen(b []byte) (Seen, error) {
	d := decoder{b: b}
	s := Seen{Size: d.varint(), Mtime: d.varint(), Ctime: d.varint()}
	return s, d.finish()
}

func hashKey(id ID, seg int) []byte {
	return binary.BigEndian.AppendUint32(idKey(id), uint32(seg))
}

// AckShipped is Ack that also records what was shipped. Ranges written
// since the claim stay dirty.
func (j *Journal) AckShipped(c Claim, s Shipped) error {
	defer j.untrack(c.ID)
	return j.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketInodes).Get(idKey(c.ID)) == nil {
			return nil // unlinked meanwhile
		}
		if err := putShipped(tx, c.ID, s); err != nil {
			return err
		}
		return j.ackTx(tx, c)
	})
}

func putShipped(tx *bolt.Tx, id ID, s Shipped) error {
	if err := tx.Bucket(bucketShipped).Put(idKey(id), s.Seen.encode()); err != nil {
		return err
	}
	if s.Version > 0 {
		if err := tx.Bucket(bucketVersions).Put(idKey(id), u64(s.Version)); err != nil {
			return err
		}
	}
	hb := tx.Bucket(bucketHashes)
	c := hb.Cursor()
	prefix := idKey(id)
	var drop [][]byte
	for k, _ := c.Seek(hashKey(id, s.Segments)); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		drop = append(drop, append([]byte(nil), k...))
	}
	for _, k := range drop {
		hb.Delete(k)
	}
	for seg, h := range s.Hashes {
		if err := hb.Put(hashKey(id, seg), h); err != nil {
			return err
		}
	}
	return nil
}

// SetSeen records the state of files for which the journal is complete
// (a clean unmount does it for the files it holds dirty).
func (j *Journal) SetSeen(seen map[ID]Seen) error {
	return j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShipped)
		for id, s := range seen {
			if tx.Bucket(bucketInodes).Get(idKey(id)) == nil {
				continue
			}
			if err := b.Put(idKey(id), s.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastSeen returns the recorded state of id.
func (j *Journal) LastSeen(id ID) (Seen, bool) {
	var s Seen
	var ok bool
	j.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketShipped).Get(idKey(id)); v != nil {
			var err error
			s, err = decodeSeen(v)
			ok = err == nil
		}
		return nil
	})
	return s, ok
}

// Hashes returns the block hashes recorded for segment seg of id, nil if
// none.
func (j *Journal) Hashes(id ID, seg int) []byte {
	var h []byte
	j.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketHashes).Get(hashKey(id, seg)); v != nil {
			h = append([]byte(nil), v...)
		}
		return nil
	})
	return h
}

// dropShipped forgets what was shipped of a dead inode.
func dropShipped(tx *bolt.Tx, id ID) {
	tx.Bucket(bucketShipped).Delete(idKey(id))
	tx.Bucket(bucketVersions).Delete(idKey(id))
	hb := tx.Bucket(bucketHashes)
	prefix := idKey(id)
	var drop [][]byte
	c := hb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		drop = append(drop, append([]byte(nil), k...))
	}
	for _, k := range drop {
		hb.Delete(k)
	}
}

// Entry is a name in a directory of the journal's namespace.
type Entry struct {
	ID   ID
	Kind Kind
}

// Children lists directory dir.
func (j *Journal) Children(dir ID) (map[string]Entry, error) {
	out := map[string]Entry{}
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDentries).Cursor()
		prefix := idKey(dir)
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			id, kind, err := decodeDentry(v)
			if err != nil {
				return fmt.Errorf("dentry %x: %w", k, err)
			}
			out[string(k[8:])] = Entry{ID: id, Kind: kind}
		}
		return nil
	})
	return out, err
}

// LookupPath resolves a '/'-separated path from the root ("" is the root).
func (j *Journal) LookupPath(rel string) (ID, Kind, bool) {
	id, kind := RootID, KindDir
	if rel == "" {
		return id, kind, true
	}
	for _, name := range strings.Split(rel, "/") {
		var ok bool
		if id, kind, ok = j.Lookup(id, name); !ok {
			return 0, 0, false
		}
	}
	return id, kind, true
}
