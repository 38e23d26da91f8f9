// Package storetest is the conformance suite every remote.Store backend
// passes (mem, file, s3 on a real MinIO). Decorators and callers rely on the
// contract written in remote.Store; this suite is where that contract is
// pinned down, so that a backend cannot drift from the others unnoticed.
//
// Use it from a backend's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) remote.Store { return newStore(t) })
//	}
//
// newStore must return an empty store each time it is called (a fresh
// directory, bucket or prefix).
package storetest
