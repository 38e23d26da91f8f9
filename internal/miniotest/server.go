package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/s3"
)

// Fixed test credentials of every server started here.
const (
	AccessKey = "syncfs-test"
	SecretKey = "syncfs-test-secret-key"
	Region    = "us-east-1"
)

// Server is a running MinIO.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// DataDir holds the server's data.
	DataDir string

	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	admin   *awss3.Client
}

var shared struct {
	inMain atomic.Bool
	once   sync.Once
	srv    *Server
	err    error
	dir    string
}

// Main runs the package's tests with one shared server, started by the
// first call to Start, and stops it afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }
func Main(m *testing.M) int {
	shared.inMain.Store(true)
	code := m.Run()
	if shared.srv != nil {
		shared.srv.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// Start returns a running server: the package's shared one under Main,
// else one for this test, stopped in t.Cleanup. Without a MinIO binary it
// skips the test, or fails it in CI (see testenv).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, ok := Binary()
	testenv.Need(t, ok, "minio", "no MinIO server binary (MINIO_BIN, $(go env GOBIN), $(go env GOPATH)/bin or PATH); "+InstallHint)
	if shared.inMain.Load() {
		shared.once.Do(func() {
			shared.dir, shared.err = os.MkdirTemp("", "syncfs-minio-")
			if shared.err == nil {
				shared.srv, shared.err = start(bin, shared.dir)
			}
		})
		if shared.err != nil {
			t.Fatal(shared.err)
		}
		return shared.srv
	}
	srv, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv
}

// start runs the binary with its data in dir. The free port is found by
// binding :0 and releasing it, so another process can take it in between:
// a server that exits before it is ready is retried on a fresh port.
func start(bin, dir string) (*Server, error) {
	var err error
	for attempt := range 3 {
		var srv *Server
		srv, err = startOnce(bin, dir, attempt)
		if err == nil {
			return srv, nil
		}
	}
	return nil, err
}

func startOnce(bin, dir string, attempt int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		DataDir:  filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
		logPath:  filepath.Join(dir, fmt.Sprintf("minio%d.log", attempt)),
		exited:   make(chan struct{}),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "server", s.DataDir,
		"--address", "127.0.0.1:"+strconv.Itoa(port),
		"--certs-dir", filepath.Join(dir, "certs"),
		"--quiet")
	// A clean environment: nothing of the developer's MinIO or AWS setup
	// leaks into the server.
	s.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"MINIO_ROOT_USER=" + AccessKey,
		"MINIO_ROOT_PASSWORD=" + SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_REGION=" + Region,
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting minio: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()

	if err := s.waitReady(60 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("minio at %s: %w\n%s", s.Endpoint, err, s.Logs())
	}
	s.admin = awss3.New(awss3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
	return s, nil
}

// waitReady polls the readiness endpoint, backing off from 10ms.
func (s *Server) waitReady(limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	wait := 10 * time.Millisecond
	for {
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last: %v)", limit, err)
		}
		select {
		case <-s.exited:
			return errors.New("server exited before it was ready")
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// stop kills the server (and its process group) and reaps it.
func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Logs returns the server's output so far, for failure messages.
func (s *Server) Logs() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

var bucketSeq atomic.Int64

// NewBucket creates an empty bucket with a fresh name and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.admin.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Options returns s3.Options that reach this server with the test
// credentials, whatever the environment says.
func (s *Server) Options() s3.Options {
	return s3.Options{
		Endpoint:    s.Endpoint,
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	}
}

// Store returns a store for prefix ("" for the whole bucket) of bucket.
func (s *Server) Store(t testing.TB, bucket, prefix string) remote.Store {
	t.Helper()
	return s.StoreWith(t, bucket, prefix, s.Options())
}

// StoreWith is Store with options (start from s.Options()).
func (s *Server) StoreWith(t testing.TB, bucket, prefix string, opts s3.Options) *s3.Store {
	t.Helper()
	st, err := s3.New(context.Background(), bucket, prefix, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Env returns the environment a child process (the syncfs binary in an
// end-to-end test) needs to reach this server through the AWS chain:
// append it to os.Environ().
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// RcloneEnv returns the environment for an rclone process that reaches
// this server as the remote "minio:", configured wholly from variables
// (RCLONE_CONFIG names a file in dir that does not exist). The AWS_*
// variables are left out: rclone 1.60 (aws-sdk-go v1) refuses to start at
// all when AWS_CA_BUNDLE is set ("unable to load custom CA bundle,
// HTTPClient's transport unsupported type"), as it is on some machines.
func (s *Server) RcloneEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"),
		"RCLONE_CONFIG_MINIO_TYPE=s3",
		"RCLONE_CONFIG_MINIO_PROVIDER=Minio",
		"RCLONE_CONFIG_MINIO_ACCESS_KEY_ID="+AccessKey,
		"RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY="+SecretKey,
		"RCLONE_CONFIG_MINIO_ENDPOINT="+s.Endpoint,
		"RCLONE_CONFIG_MINIO_REGION="+Region,
	)
}

// URL returns the s3:// URL of prefix in bucket.
func URL(bucket, prefix string) string {
	return strings.TrimSuffix("s3://"+bucket+"/"+prefix, "/")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
