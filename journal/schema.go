package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syncfs/syncfs/internal/ranges"
)

// Bucket names; docs/format.md describes each key and value byte by byte.
var (
	bucketMeta     = []byte("meta")     // fixed keys below
	bucketDentries = []byte("dentries") // parent ID (8, BE) + name -> child ID (8, BE) + kind (1)
	bucketInodes   = []byte("inodes")   // ID -> inode record
	bucketDirty    = []byte("dirty")    // ID -> pending record
	bucketInFlight = []byte("inflight") // ID -> pending record + claim token
	bucketOps      = []byte("ops")      // seq (8, BE) -> op record
	bucketOpen     = []byte("open")     // ID -> empty: open for write
	bucketShipped  = []byte("shipped")  // ID -> Seen: the file state the journal is complete for
	bucketHashes   = []byte("hashes")   // ID (8) + segment (4, BE) -> block hashes last shipped
	bucketTargets  = []byte("targets")  // ID -> symlink target: shipping a symlink never reads (and so touches) the backing link
	bucketVersions = []byte("versions") // ID -> u64 BE: the version of i/<id>/m last committed, for the remote audit

	// Buckets are only ever added, not changed: a journal written before
	// a bucket existed gets it, empty, at the next open (formatVersion
	// stays); an older syncfs ignores it.
	allBuckets = [][]byte{bucketMeta, bucketDentries, bucketInodes, bucketDirty, bucketInFlight, bucketOps, bucketOpen, bucketShipped, bucketHashes, bucketTargets, bucketVersions}

	keyVersion = []byte("version")
	keyNextID  = []byte("next_id")
	keyGen     = []byte("gen")
	keyUUID    = []byte("uuid")
)

// formatVersion is bumped on any incompatible change of the buckets.
const formatVersion = 1

var errCorruptRecord = errors.New("corrupt journal record")

func idKey(id ID) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return b[:]
}

func keyID(k []byte) ID {
	if len(k) != 8 {
		return 0
	}
	return ID(binary.BigEndian.Uint64(k))
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func dentryKey(parent ID, name string) []byte {
	k := make([]byte, 8, 8+len(name))
	binary.BigEndian.PutUint64(k, uint64(parent))
	return append(k, name...)
}

func encodeDentry(child ID, kind Kind) []byte {
	v := make([]byte, 9)
	binary.BigEndian.PutUint64(v, uint64(child))
	v[8] = byte(kind)
	return v
}

func decodeDentry(v []byte) (ID, Kind, error) {
	if len(v) != 9 {
		return 0, 0, errCorruptRecord
	}
	return ID(binary.BigEndian.Uint64(v)), Kind(v[8]), nil
}

// inode is the record of one file, directory or symlink. Parent and Name
// are one of its names (the first it got, updated by renames), from which
// Path is rebuilt.
type inode struct {
	Kind   Kind
	Nlink  uint32
	Parent ID
	Name   string
}

func (n inode) encode() []byte {
	b := []byte{byte(n.Kind)}
	b = binary.AppendUvarint(b, uint64(n.Nlink))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Parent))
	return appendString(b, n.Name)
}

func decodeInode(b []byte) (inode, error) {
	var n inode
	d := decoder{b: b}
	n.Kind = Kind(d.byte())
	n.Nlink = uint32(d.uvarint())
	n.Parent = ID(d.u64())
	n.Name = d.string()
	return n, d.finish()
}

// pending is a dirty or in-flight record.
type pending struct {
	Gen       uint64
	AttrDirty bool
	Ranges    ranges.Set
	Token     uint64 // in-flight only: the claim it belongs to
	// Shrunk says the file was truncated to MinSize (its smallest size
	// since the last claim): if it grew again, the bytes from MinSize on
	// that nothing wrote are zeros now, whatever the remote holds.
	Shrunk  bool
	MinSize int64
}

func (p pending) encode() []byte {
	b := binary.AppendUvarint(nil, p.Gen)
	flags := byte(0)
	if p.AttrDirty {
		flags |= 1
	}
	if p.Shrunk {
		flags |= 2
	}
	b = append(b, flags)
	b = p.Ranges.AppendBinary(b)
	b = binary.AppendUvarint(b, p.Token)
	if p.Shrunk {
		b = binary.AppendUvarint(b, uint64(p.MinSize))
	}
	return b
}

func decodePending(b []byte) (pending, error) {
	var p pending
	d := decoder{b: b}
	p.Gen = d.uvarint()
	flags := d.byte()
	p.AttrDirty, p.Shrunk = flags&1 != 0, flags&2 != 0
	if d.err != nil {
		return p, d.err
	}
	s, rest, err := ranges.Decode(d.b)
	if err != nil {
		return p, err
	}
	p.Ranges = s
	d.b = rest
	p.Token = d.uvarint()
	if p.Shrunk {
		p.MinSize = int64(d.uvarint())
	}
	return p, d.finish()
}

func (op Op) encode() []byte {
	b := []byte{byte(op.Type), byte(op.Kind)}
	flags := byte(0)
	if op.Exchange {
		flags |= 1
	}
	if op.Dead {
		flags |= 2
	}
	if op.Adopted {
		flags |= 4
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(op.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(op.Parent))
	b = appendString(b, op.Name)
	b = binary.BigEndian.AppendUint64(b, uint64(op.NewParent))
	b = appendString(b, op.NewName)
	b = binary.BigEndian.AppendUint64(b, uint64(op.Replaced))
	b = append(b, byte(op.ReplacedKind))
	b = appendString(b, op.Target)
	return binary.AppendVarint(b, op.Size)
}

func decodeOp(seq uint64, b []byte) (Op, error) {
	d := decoder{b: b}
	op := Op{Seq: seq}
	op.Type = OpType(d.byte())
	op.Kind = Kind(d.byte())
	flags := d.byte()
	op.Exchange, op.Dead, op.Adopted = flags&1 != 0, flags&2 != 0, flags&4 != 0
	op.ID = ID(d.u64())
	op.Parent = ID(d.u64())
	op.Name = d.string()
	op.NewParent = ID(d.u64())
	op.NewName = d.string()
	op.Replaced = ID(d.u64())
	op.ReplacedKind = Kind(d.byte())
	op.Target = d.string()
	op.Size = d.varint()
	return op, d.finish()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads fields in order and remembers the first error, so record
// decoders read like the format they parse and never panic on short input.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorruptRecord
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errCorruptRecord, len(d.b))
	}
	return d.err
}
