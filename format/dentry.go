package format

// Dentry is the body of n/<dir>/<ename>: what the name is and what it
// names.
type Dentry struct {
	Kind Kind
	ID   ID
	Name string
}

const dentryMagic = "SFD1"

// Encode returns the dentry's object body.
func (d Dentry) Encode() []byte {
	e := enc{b: make([]byte, 0, 19+len(d.Name))}
	e.raw([]byte(dentryMagic))
	e.u8(uint8(d.Kind))
	e.u64(uint64(d.ID))
	e.str16(d.Name)
	return e.seal()
}

// DecodeDentry parses a dentry body, rejecting bad kinds, IDs and names.
func DecodeDentry(b []byte) (Dentry, error) {
	d, err := open(b, dentryMagic, "dentry")
	if err != nil {
		return Dentry{}, err
	}
	var de Dentry
	de.Kind = Kind(d.u8())
	de.ID = ID(d.u64())
	de.Name = d.str16(MaxNameLen)
	if err := d.finish(); err != nil {
		return Dentry{}, err
	}
	if !de.Kind.valid() {
		return Dentry{}, corrupt("dentry: bad kind %d", de.Kind)
	}
	if de.ID <= RootID {
		return Dentry{}, corrupt("dentry: bad inode ID %v", de.ID)
	}
	if err := CheckName(de.Name); err != nil {
		return Dentry{}, corrupt("dentry: %v", err)
	}
	return de, nil
}
