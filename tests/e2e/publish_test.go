package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
)

// putCounter counts the request body bytes of PUTs through the proxy:
// PutObject and UploadPart carry the bytes sent; UploadPartCopy carries
// none (the copy happens inside the store).
func putCounter(proxy *miniotest.FaultProxy) *atomic.Int64 {
	var n atomic.Int64
	proxy.SetRule(func(r *http.Request, _ int) miniotest.Fault {
		if r.Method == http.MethodPut && r.ContentLength > 0 {
			n.Add(r.ContentLength)
		}
		return miniotest.Pass
	})
	return &n
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha(b)
}

// TestPublish: a job's tree published as plain objects that stock S3
// tools read (rclone from apt, the AWS SDK's GetObject), republished after
// scattered rewrites for about the changed parts' size, with renames and
// deletes mirrored; a publish killed midway leaves no partial object and
// the next one completes.
func TestPublish(t *testing.T) {
	needFUSE(t)
	rclone, err := exec.LookPath("rclone")
	testenv.Need(t, err == nil, "rclone", "not installed (apt-get install rclone)")
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	proxy := miniotest.NewFaultProxy(t, srv.Endpoint)
	env := append(srv.Env(), "AWS_ENDPOINT_URL="+proxy.URL)
	m := newMount(t, miniotest.URL(bucket, "job"), env, "--exclude", "*.tmp")

	os.MkdirAll(m.path("results"), 0o755)
	os.MkdirAll(m.path("logs"), 0o755)
	big := randBytes(40<<20 + 777)
	writeAt(t, m.path("results/model.odb"), 0, big)
	writeAt(t, m.path("results/model.dat"), 0, []byte("increment 1 done\n"))
	writeAt(t, m.path("logs/rank0.log"), 0, randBytes(3000))
	writeAt(t, m.path("scratch.tmp"), 0, []byte("excluded"))
	mtime := time.Unix(1787934006, 500000000)
	os.Chtimes(m.path("results/model.dat"), mtime, mtime)

	if r := syncfs(t, env, "flush", "--wait", "--publish", m.mnt); r.Code != 0 {
		t.Fatalf("flush --wait --publish: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// rclone sees exactly the tree, byte for byte, with the file's mtime.
	got := t.TempDir()
	rc := exec.Command(rclone, "copy", "minio:"+bucket+"/job/files", got)
	rc.Env = srv.RcloneEnv(t.TempDir())
	if out, err := rc.CombinedOutput(); err != nil {
		t.Fatalf("rclone copy: %v\n%s", err, out)
	}
	for _, p := range []string{"results/model.odb", "results/model.dat", "logs/rank0.log"} {
		if fileSHA(t, filepath.Join(got, p)) != fileSHA(t, m.path(p)) {
			t.Errorf("rclone's copy of %s differs from the file", p)
		}
	}
	if _, err := os.Stat(filepath.Join(got, "scratch.tmp")); err == nil {
		t.Errorf("an excluded file was published")
	}
	if fi, err := os.Stat(filepath.Join(got, "results/model.dat")); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("rclone's copy of model.dat has mtime %v, want the file's %v", fi.ModTime(), mtime)
	}

	// The AWS SDK's plain GetObject: bytes and the sha256 metadata.
	client := plainClient(srv)
	obj, err := client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("job/files/results/model.odb")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(body, big) || obj.Metadata["sha256"] != sha(big) {
		t.Fatalf("GetObject: %d bytes (want %d), sha256 metadata %q", len(body), len(big), obj.Metadata["sha256"])
	}

	// Two scattered 4 KiB rewrites: the republish sends a part around
	// each, the rest is copied inside the store.
	writeAt(t, m.path("results/model.odb"), 3<<20, randBytes(4096))
	writeAt(t, m.path("results/model.odb"), 33<<20, randBytes(4096))
	m.flush()
	sent := putCounter(proxy)
	r := syncfs(t, env, "publish", "--json", m.mnt)
	if r.Code != 0 {
		t.Fatalf("publish: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Two changes 30 MiB apart: two parts of S3's 5 MiB minimum around
	// them are sent, the rest is copied.
	const parts = 2 * 5 << 20
	if n := sent.Load(); n > parts+64<<10 {
		t.Fatalf("republish after two 4 KiB rewrites sent %d bytes, more than two minimum parts (%d)\n%s", n, parts, r.Stdout)
	}
	t.Logf("republish after two 4 KiB rewrites of a 40 MiB file: %d bytes sent\n%s", sent.Load(), r.Stdout)

	// An object replaced behind publish's back is not copied from (the
	// copy is conditional on the recorded ETag): the file is sent whole.
	if _, err := client.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("job/files/results/model.odb"), Body: strings.NewReader("replaced")}); err != nil {
		t.Fatal(err)
	}
	writeAt(t, m.path("results/model.odb"), 100, []byte("x"))
	m.flush()
	if r := syncfs(t, env, "publish", m.mnt); r.Code != 0 {
		t.Fatalf("publish over a replaced object: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	verifyPublished(t, env, m)

	// A server without UploadPartCopy: publish says so and sends whole.
	proxy.SetRule(func(r *http.Request, _ int) miniotest.Fault {
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return miniotest.Status501
		}
		return miniotest.Pass
	})
	writeAt(t, m.path("results/model.odb"), 20<<20, []byte("y"))
	m.flush()
	if r := syncfs(t, env, "publish", m.mnt); r.Code != 0 || !strings.Contains(r.Stdout, "no UploadPartCopy") {
		t.Fatalf("publish without UploadPartCopy: exit %d (want 0 and a note)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	proxy.SetRule(nil)
	verifyPublished(t, env, m)

	// A rename and a delete are mirrored; the renamed file is copied, not sent.
	if err := os.Rename(m.path("results/model.odb"), m.path("results/final.odb")); err != nil {
		t.Fatal(err)
	}
	os.Remove(m.path("logs/rank0.log"))
	sent.Store(0)
	if r := syncfs(t, env, "publish", m.mnt); r.Code != 0 {
		t.Fatalf("publish after a rename: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if n := sent.Load(); n > 64<<10 {
		t.Errorf("a rename sent %d bytes", n)
	}
	ls := exec.Command(rclone, "lsf", "-R", "minio:"+bucket+"/job/files")
	ls.Env = srv.RcloneEnv(t.TempDir())
	out, err := ls.Output()
	if err != nil {
		t.Fatal(err)
	}
	// logs/ is empty now: directories exist only as key prefixes.
	lines := strings.Fields(string(out))
	sort.Strings(lines)
	if got, want := strings.Join(lines, " "), "results/ results/final.odb results/model.dat"; got != want {
		t.Errorf("rclone lsf after a rename and a delete: %s, want %s", got, want)
	}
	verifyPublished(t, env, m)

	// Kill a publish midway (once its first new part is on its way): no
	// partial object is visible, and the next publish completes, freeing
	// the upload the killed one left.
	writeAt(t, m.path("results/huge.odb"), 0, randBytes(96<<20))
	m.flush()
	started := stallParts(proxy)
	cmd := exec.Command(syncfsBin, "publish", m.mnt)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the publish sent no part within 60 s")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	proxy.SetRule(nil)
	if _, err := client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("job/files/results/huge.odb")}); err == nil {
		t.Fatal("a publish killed midway left an object of the file")
	}
	r = syncfs(t, env, "publish", "--json", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"aborted":1`) {
		t.Fatalf("publish after a killed one: exit %d (want 0 and one upload aborted)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	verifyPublished(t, env, m)
}

func verifyPublished(t *testing.T, env []string, m *mount) {
	t.Helper()
	if r := syncfs(t, env, "verify", "--published", "--exclude", "*.tmp", "--remote", m.remote, m.backing); r.Code != 0 {
		t.Fatalf("verify --published: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestPublishEvery: a mount with --publish-every publishes each file once
// it has settled, and follows its changes and its deletion, with no
// command run.
func TestPublishEvery(t *testing.T) {
	needFUSE(t)
	m := newMount(t, "", nil, "--publish-every", "200ms", "--upload-delay", "300ms")
	plain := filepath.Join(m.remoteDir(), "files")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s: %s\n%s", what, m.log())
			}
			time.Sleep(50 * time.Millisecond) // the loop's own interval; no signal to wait for
		}
	}
	want := randBytes(3 << 20)
	writeAt(t, m.path("out.csv"), 0, want)
	waitFor("out.csv not published", func() bool {
		b, err := os.ReadFile(filepath.Join(plain, "out.csv"))
		return err == nil && bytes.Equal(b, want)
	})
	copy(want[1000:], "changed")
	writeAt(t, m.path("out.csv"), 1000, []byte("changed"))
	waitFor("the change of out.csv not published", func() bool {
		b, err := os.ReadFile(filepath.Join(plain, "out.csv"))
		return err == nil && bytes.Equal(b, want)
	})
	os.Remove(m.path("out.csv"))
	waitFor("the object of a deleted file still there", func() bool {
		_, err := os.Stat(filepath.Join(plain, "out.csv"))
		return os.IsNotExist(err)
	})
}

// TestPublishEveryDaemonKilled: the daemon of a --publish-every mount is
// killed while it publishes a large file; no partial object is visible,
// and the restarted mount finishes the publish, freeing the upload the
// dead one left.
func TestPublishEveryDaemonKilled(t *testing.T) {
	needFUSE(t)
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	proxy := miniotest.NewFaultProxy(t, srv.Endpoint)
	env := append(srv.Env(), "AWS_ENDPOINT_URL="+proxy.URL)
	m := newMount(t, miniotest.URL(bucket, "every"), env, "--publish-every", "200ms", "--upload-delay", "200ms")
	started := stallParts(proxy)
	want := randBytes(40 << 20)
	writeAt(t, m.path("big.odb"), 0, want)
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon published no part within 60 s\n%s", m.log())
	}
	pid := m.pid()
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(t, pid)
	m.unmount() // the daemon is dead: this detaches its mount
	proxy.SetRule(nil)
	client := plainClient(srv)
	key := aws.String("every/files/big.odb")
	if _, err := client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: key}); err == nil {
		t.Fatal("a publish killed midway left an object")
	}
	m.start()
	for deadline := time.Now().Add(60 * time.Second); ; {
		obj, err := client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: key})
		if err == nil {
			body, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if !bytes.Equal(body, want) {
				t.Fatalf("the published object has %d bytes and differs from the file", len(body))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted mount did not publish big.odb within 60 s\n%s", m.log())
		}
		time.Sleep(100 * time.Millisecond) // the loop's interval; no signal to wait for
	}
	ups, err := client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: key})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d incomplete uploads left after the restarted publish", len(ups.Uploads))
	}
}

// stallParts makes the proxy hold every part of a multipart upload (a
// publish midway); the channel gets a value when the first one arrives.
func stallParts(proxy *miniotest.FaultProxy) <-chan struct{} {
	started := make(chan struct{}, 1)
	proxy.SetRule(func(r *http.Request, _ int) miniotest.Fault {
		if r.Method == http.MethodPut && strings.Contains(r.URL.RawQuery, "partNumber") {
			select {
			case started <- struct{}{}:
			default:
			}
			return miniotest.StallRequest
		}
		return miniotest.Pass
	})
	return started
}

// plainClient is the AWS SDK's own S3 client on the server: what a user
// without syncfs reads the bucket with.
func plainClient(srv *miniotest.Server) *awss3.Client {
	opts := srv.Options()
	return awss3.New(awss3.Options{Region: opts.Region, Credentials: opts.Credentials, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true})
}
