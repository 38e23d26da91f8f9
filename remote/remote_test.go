package remote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

func TestValidKey(t *testing.T) {
	for _, k := range []string{
		"a", "a/b/c", "with space", "ünï/文件", "...", "a/.hidden", "a..b", ".syncfs", "x/syncfs-.y",
		strings.Repeat("a", 255), strings.Repeat("a/", 511) + "b",
	} {
		if err := remote.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{
		"", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b", "a\x00", "a\x1f", "a\x7f", `a\b`,
		"\xc3\x28", strings.Repeat("a", 256), strings.Repeat("a/", 512) + "b",
		".syncfs-tmp", "a/.syncfs-x/b",
	} {
		err := remote.ValidKey(k)
		if !errors.Is(err, remote.ErrInvalidKey) || !remote.IsPermanent(err) {
			t.Errorf("ValidKey(%q) = %v, want a permanent ErrInvalidKey", k, err)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	transient := errors.New("503")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{transient, false},
		{fmt.Errorf("put: %w", transient), false},
		{remote.Permanent(transient), true},
		{fmt.Errorf("wrapped: %w", remote.Permanent(transient)), true},
		{fmt.Errorf("get: %w", remote.ErrNotFound), true},
		{remote.ErrExists, true},
		{context.Canceled, true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		// A class alone does not make an error permanent: an unreachable
		// endpoint may come back.
		{&remote.Error{Store: "s3://b", Class: remote.ErrUnreachable, Msg: "connection refused"}, false},
	} {
		if got := remote.IsPermanent(c.err); got != c.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if remote.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	p := remote.Permanent(transient)
	if remote.Permanent(p) != p || !errors.Is(p, transient) || p.Error() != "503" {
		t.Error("Permanent does not wrap transparently")
	}
}

func TestError(t *testing.T) {
	cause := errors.New("econnrefused")
	e := &remote.Error{Store: "s3://b/p", Op: "put", Key: "k", Class: remote.ErrUnreachable, Msg: "endpoint down", Err: cause}
	if e.Error() != "remote s3://b/p: put k: endpoint down" {
		t.Errorf("message %q", e)
	}
	if !errors.Is(e, remote.ErrUnreachable) || !errors.Is(e, cause) {
		t.Error("class or cause not visible to errors.Is")
	}
	e2 := &remote.Error{Store: "s3://b", Class: remote.ErrNoBucket, Msg: `bucket "b" does not exist`}
	if e2.Error() != `remote s3://b: bucket "b" does not exist` {
		t.Errorf("message %q", e2)
	}
}

func TestReadAll(t *testing.T) {
	ctx := context.Background()
	s := mem.New("mem://")
	s.Put(ctx, "k", strings.NewReader("0123456789"), 10, remote.PutOptions{})
	if b, err := remote.ReadAll(ctx, s, "k", 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
	if _, err := remote.ReadAll(ctx, s, "k", 9); err == nil {
		t.Error("ReadAll read past its limit")
	}
	if _, err := remote.ReadAll(ctx, s, "missing", 9); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("ReadAll of a missing key: %v", err)
	}
}
