package miniotest

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Fault is what a FaultProxy does to one request.
type Fault int

const (
	Pass            Fault = iota // forward to the server
	Status500                    // answer 500 InternalError
	Status503                    // answer 503 SlowDown
	Status403                    // answer 403 AccessDenied
	ResetRequest                 // read part of the request body, then reset the connection
	ResetResponse                // forward, send the headers and half the body, then reset
	StallRequest                 // read nothing, answer nothing, until the client gives up
	StallResponse                // forward, send the headers and half the body, then nothing
	CorruptRequest               // forward with one byte of the request body flipped
	CorruptResponse              // forward and flip one byte of the response body
	Status501                    // answer 501 NotImplemented (a server without the operation)
)

func (f Fault) String() string {
	return [...]string{"Pass", "Status500", "Status503", "Status403", "ResetRequest", "ResetResponse", "StallRequest", "StallResponse", "CorruptRequest", "CorruptResponse", "Status501"}[f]
}

// FaultProxy is a reverse proxy in front of a server that injects faults
// chosen by a rule, over real TCP connections: a reset is a TCP RST, a
// stall is a connection on which nothing moves.
type FaultProxy struct {
	// URL is the endpoint clients use instead of the server's.
	URL string

	srv     *httptest.Server
	target  *url.URL
	fwd     *httputil.ReverseProxy
	tr      *http.Transport
	rule    atomic.Pointer[func(r *http.Request, n int) Fault]
	n       atomic.Int64
	closing chan struct{}
	once    sync.Once
}

// NewFaultProxy starts a plain-http proxy to target, passing everything
// until SetRule says otherwise. It is closed in t.Cleanup.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	return newProxy(t, target, false)
}

// NewTLSProxy is NewFaultProxy serving https with a certificate for
// 127.0.0.1 that no system trusts; CAFile writes it out for AWS_CA_BUNDLE.
func NewTLSProxy(t testing.TB, target string) *FaultProxy {
	return newProxy(t, target, true)
}

func newProxy(t testing.TB, target string, useTLS bool) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{target: u, closing: make(chan struct{}), tr: &http.Transport{MaxIdleConnsPerHost: 64}}
	p.fwd = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the client signed its Host header
		},
		Transport:     p.tr,
		FlushInterval: -1,
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	// Handshakes that fail on purpose (an untrusted certificate) and
	// resets are expected here; do not print them.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		p.srv.StartTLS()
	} else {
		p.srv.Start()
	}
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// SetRule sets the function that picks the fault for each request; n
// counts requests from 1. nil passes everything.
func (p *FaultProxy) SetRule(rule func(r *http.Request, n int) Fault) {
	if rule == nil {
		p.rule.Store(nil)
		return
	}
	p.rule.Store(&rule)
}

// Requests returns the number of requests seen so far.
func (p *FaultProxy) Requests() int { return int(p.n.Load()) }

// CAFile writes the proxy's TLS certificate as PEM and returns the path.
func (p *FaultProxy) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Close stops the proxy, releasing stalled requests first.
func (p *FaultProxy) Close() {
	p.once.Do(func() {
		close(p.closing)
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.tr.CloseIdleConnections()
	})
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	n := int(p.n.Add(1))
	fault := Pass
	if rule := p.rule.Load(); rule != nil {
		fault = (*rule)(r, n)
	}
	switch fault {
	case Pass:
		p.fwd.ServeHTTP(w, r)
	case Status500:
		s3Error(w, r, 500, "InternalError")
	case Status503:
		s3Error(w, r, 503, "SlowDown")
	case Status403:
		s3Error(w, r, 403, "AccessDenied")
	case Status501:
		s3Error(w, r, 501, "NotImplemented")
	case ResetRequest:
		io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		reset(w)
	case StallRequest:
		p.stall(r)
	case ResetResponse, StallResponse, CorruptResponse:
		p.half(w, r, fault)
	case CorruptRequest:
		r.Body = &flipper{r: r.Body}
		p.fwd.ServeHTTP(w, r)
	}
}

// half forwards the request and relays the headers and half the body, then
// resets or stalls; or, for CorruptResponse, relays it all with a byte
// flipped.
func (p *FaultProxy) half(w http.ResponseWriter, r *http.Request, fault Fault) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.RequestURI = p.target.Scheme, p.target.Host, ""
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if fault == CorruptResponse {
		io.Copy(w, &flipper{r: resp.Body})
		return
	}
	io.CopyN(w, resp.Body, resp.ContentLength/2)
	w.(http.Flusher).Flush()
	if fault == ResetResponse {
		reset(w)
		return
	}
	p.stall(r)
}

func (p *FaultProxy) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.closing:
	}
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func s3Error(w http.ResponseWriter, r *http.Request, status int, code string) {
	io.Copy(io.Discard, r.Body) // so that the client sees the answer, not a reset
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+
		`<Error><Code>%s</Code><Message>injected by FaultProxy</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`,
		code, r.URL.Path)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

// flipper flips the lowest bit of the first byte read through it.
type flipper struct {
	r    io.ReadCloser
	done bool
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 1
		f.done = true
	}
	return n, err
}

func (f *flipper) Close() error { return f.r.Close() }
