package s3

// SkipPrecheck makes conditional multipart puts rely on the server's check
// at completion alone.
func SkipPrecheck(s *Store) { s.noPrecheck = true }
