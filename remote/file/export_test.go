package file

// ForceNoOpenat2 makes the package use its fallback path walk, as on a
// kernel without openat2, until the returned function is called.
func ForceNoOpenat2(on bool) (restore func()) {
	was := noOpenat2.Load()
	noOpenat2.Store(on)
	return func() { noOpenat2.Store(was) }
}
