// Package miniotest runs a real MinIO server for tests, so that the S3 code
// is tested against an S3 implementation rather than a mock of one.
//
// A package that uses it starts one server for all its tests (startup costs
// a second or two) by calling Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		srv := miniotest.Start(t)         // skips (fails in CI) without a binary
//		store := srv.Store(t, srv.NewBucket(t), "prefix")
//		...
//	}
//
// Without TestMain, Start starts a server per test and stops it in
// t.Cleanup. Either way the server listens on 127.0.0.1 at a free port,
// keeps its data in a temporary directory, and is killed and reaped when
// the tests end; it also dies with the test binary (PR_SET_PDEATHSIG), so a
// test that panics or times out leaves no server behind.
//
// The binary is $MINIO_BIN if set (and then only that), else minio in
// $(go env GOBIN), $(go env GOPATH)/bin, or $PATH. Install it with
//
//	go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
//
// FaultProxy sits between a client and the server and injects failures
// (error statuses, connections reset mid-body, stalls).
package miniotest
