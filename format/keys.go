package format

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RootKey names the root marker.
const RootKey = "syncfs.json"

// DirPrefix is the prefix listing the entries of directory dir.
func DirPrefix(dir ID) string { return "n/" + dir.String() + "/" }

// DentryKey names the entry name of directory dir.
func DentryKey(dir ID, name string) string { return DirPrefix(dir) + EscapeName(name) }

// InodeKey names inode id's manifest.
func InodeKey(id ID) string { return "i/" + id.String() + "/m" }

// SegmentPrefix lists inode id's segment manifests.
func SegmentPrefix(id ID) string { return "i/" + id.String() + "/s/" }

// SegmentKey names version ver of segment seg of inode id.
func SegmentKey(id ID, seg uint32, ver uint64) string {
	return fmt.Sprintf("%s%08x.%016x", SegmentPrefix(id), seg, ver)
}

// DataPrefix lists inode id's data objects.
func DataPrefix(id ID) string { return "d/" + id.String() + "/" }

// DataKey names data object seq of inode id.
func DataKey(id ID, seq uint64) string { return fmt.Sprintf("%s%016x", DataPrefix(id), seq) }

// ParseDataKey returns the sequence number of a key under DataPrefix(id).
func ParseDataKey(id ID, key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, DataPrefix(id))
	if !ok || len(rest) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(rest, 16, 64)
	return v, err == nil
}

// ParseSegmentKey returns the segment and version of a key under
// SegmentPrefix(id).
func ParseSegmentKey(id ID, key string) (seg uint32, ver uint64, ok bool) {
	rest, ok := strings.CutPrefix(key, SegmentPrefix(id))
	if !ok || len(rest) != 8+1+16 || rest[8] != '.' {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(rest[:8], 16, 32)
	v, err2 := strconv.ParseUint(rest[9:], 16, 64)
	return uint32(s), v, err1 == nil && err2 == nil
}

// ParseID parses 16 hex digits.
func ParseID(s string) (ID, bool) {
	if len(s) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return ID(v), err == nil
}

// EscapeName turns a file name into a key component (docs/format.md).
func EscapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		c := name[i]
		switch {
		case r == utf8.RuneError && n <= 1,
			c == '%', c == '\\', c < 0x20, c == 0x7f,
			i == 0 && c == '.':
			fmt.Fprintf(&b, "%%%02X", c)
			i++
			continue
		}
		b.WriteString(name[i : i+n])
		i += n
	}
	if b.Len() > MaxNameLen {
		sum := sha256.Sum256([]byte(name))
		return "%h" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// UnescapeName undoes EscapeName; hashed names cannot be undone (the
// dentry body has the name) and give ok false.
func UnescapeName(e string) (string, bool) {
	if strings.HasPrefix(e, "%h") {
		return "", false
	}
	var b []byte
	for i := 0; i < len(e); i++ {
		if e[i] != '%' {
			b = append(b, e[i])
			continue
		}
		if i+2 >= len(e) {
			return "", false
		}
		v, err := strconv.ParseUint(e[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), true
}

// ErrBadName is returned for names no directory can hold.
var ErrBadName = errors.New("invalid file name")

// CheckName rejects names that could escape a directory or break a path:
// empty, ".", "..", containing '/' or NUL, or longer than NAME_MAX. A
// reader must apply it to every name it takes from a remote.
func CheckName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%w %q", ErrBadName, name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrBadName, len(name), MaxNameLen)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w %q: contains / or NUL", ErrBadName, name)
	}
	return nil
}
