package clamav

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/scan"
)

// maxReply caps a clamd reply line: 4 KiB.
const maxReply = 4 << 10

// Result is clamd's verdict on one stream.
type Result struct {
	// Found says clamd detected malware; Signature names it.
	Found bool
	// Signature is the name of the matching signature, as clamd reports it
	// ("Win.Test.EICAR_HDB-1", "Cssc.Test.EICAR.UNOFFICIAL").
	Signature string
}

// Version is clamd's answer to VERSION.
type Version struct {
	// Engine is the engine version ("ClamAV 1.4.6").
	Engine string
	// Database is the signature database version ("27000"), empty when
	// clamd runs on custom databases only.
	Database string
	// DatabaseTime is the build time of the signature database as clamd
	// prints it, empty if unknown.
	DatabaseTime string
}

// String returns the version as clamd prints it.
func (v Version) String() string {
	s := v.Engine
	if v.Database != "" {
		s += "/" + v.Database
		if v.DatabaseTime != "" {
			s += "/" + v.DatabaseTime
		}
	}
	return s
}

// parseAddress turns "tcp://host:port", "unix:///path" or "/path" into a
// network and address for net.Dial.
func parseAddress(addr string) (network, address string, err error) {
	switch {
	case addr == "":
		return "", "", errors.New("clamav: empty address")
	case strings.HasPrefix(addr, "/"):
		return "unix", addr, nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", "", fmt.Errorf("clamav: address %q: %w", addr, err)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return "", "", fmt.Errorf("clamav: address %q: want tcp://host:port", addr)
		}
		return "tcp", u.Host, nil
	case "unix":
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		if p == "" {
			return "", "", fmt.Errorf("clamav: address %q: want unix:///path", addr)
		}
		return "unix", p, nil
	}
	return "", "", fmt.Errorf("clamav: address %q: scheme must be tcp or unix", addr)
}

// conn is one clamd connection in IDSESSION mode. Requests on it are
// sequential; the n-th reply carries the prefix "n: ".
type conn struct {
	c        net.Conn
	r        *bufio.Reader
	next     int // id of the next request
	lastUsed time.Time
}

// pool hands out clamd connections, at most size at a time.
type pool struct {
	network, address string
	dialTimeout      time.Duration
	idleMax          time.Duration
	sem              chan struct{}
	mu               sync.Mutex
	idle             []*conn
}

func newPool(network, address string, size int, dialTimeout, idleMax time.Duration) *pool {
	return &pool{network: network, address: address, dialTimeout: dialTimeout, idleMax: idleMax, sem: make(chan struct{}, size)}
}

// get returns an idle session or dials a new one, waiting while size
// connections are in use.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(c.lastUsed) < p.idleMax {
			p.mu.Unlock()
			return c, nil
		}
		c.close() // clamd drops idle sessions: do not reuse stale ones
	}
	p.mu.Unlock()
	c, err := p.dial(ctx, true)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return c, nil
}

func (p *pool) dial(ctx context.Context, session bool) (*conn, error) {
	d := net.Dialer{Timeout: p.dialTimeout}
	nc, err := d.DialContext(ctx, p.network, p.address)
	if err != nil {
		return nil, fmt.Errorf("%w: clamd %s: %w", scan.ErrScanFailed, p.address, err)
	}
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 512), next: 1, lastUsed: time.Now()}
	if session {
		if err := c.write(ctx, []byte("zIDSESSION\x00")); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// put returns c to the pool; a nil or broken connection is dropped.
func (p *pool) put(c *conn, ok bool) {
	if c != nil {
		if ok {
			c.lastUsed = time.Now()
			p.mu.Lock()
			p.idle = append(p.idle, c)
			p.mu.Unlock()
		} else {
			c.close()
		}
	}
	<-p.sem
}

// close ends all idle sessions.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.c.SetWriteDeadline(time.Now().Add(time.Second))
		c.c.Write([]byte("zEND\x00"))
		c.close()
	}
}

func (c *conn) close() { c.c.Close() }

// watch makes blocking I/O on c return when ctx is done; call the returned
// function to stop watching.
func (c *conn) watch(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
}

func (c *conn) write(ctx context.Context, b []byte) error {
	if _, err := c.c.Write(b); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w: clamd write: %w", scan.ErrScanFailed, errConn, err)
	}
	return nil
}

// errConn marks I/O errors on a connection (as opposed to clamd's replies):
// on a reused session they may just mean clamd dropped it as idle.
var errConn = errors.New("connection lost")

// retryable reports whether err is a lost connection that a fresh session
// may not have (not a timeout, not a reply, not a cancelled context).
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, errConn) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// reused reports whether the session has answered requests before.
func (c *conn) reused() bool { return c.next > 1 }

// readReply reads one NUL-terminated reply (capped at maxReply), strips
// the session id prefix if withID, and returns it.
func (c *conn) readReply(ctx context.Context, withID bool) (string, error) {
	var b []byte
	for {
		ch, err := c.r.ReadByte()
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if len(b) > 0 {
				return "", fmt.Errorf("%w: clamd reply %q cut short: %w", scan.ErrScanFailed, b, err)
			}
			return "", fmt.Errorf("%w: %w: clamd read: %w", scan.ErrScanFailed, errConn, err)
		}
		if ch == 0 || ch == '\n' {
			break
		}
		if len(b) >= maxReply {
			return "", fmt.Errorf("%w: clamd reply longer than %d bytes", scan.ErrScanFailed, maxReply)
		}
		b = append(b, ch)
	}
	s := string(b)
	if withID {
		id, rest, ok := strings.Cut(s, ": ")
		n, err := strconv.Atoi(id)
		if !ok || err != nil {
			// An error reply of the session itself (for example
			// "INSTREAM size limit exceeded. ERROR") has no id.
			return s, nil
		}
		if n != c.next {
			return "", fmt.Errorf("%w: clamd reply for request %d, want %d", scan.ErrScanFailed, n, c.next)
		}
		s = rest
	}
	c.next++
	return s, nil
}

// instream sends r (at most max bytes; more is ErrTooLarge) to clamd in
// chunks of chunk bytes and returns the verdict.
func (c *conn) instream(ctx context.Context, r io.Reader, buf []byte, max int64, timeout time.Duration, session bool) (Result, error) {
	stop := c.watch(ctx)
	defer stop()
	if timeout > 0 {
		c.c.SetDeadline(time.Now().Add(timeout))
		defer c.c.SetDeadline(time.Time{})
	}
	if err := c.write(ctx, []byte("zINSTREAM\x00")); err != nil {
		return Result{}, err
	}
	var sent int64
	hdr := buf[:4]
	data := buf[4:]
	var writeErr error
	for {
		n, err := io.ReadFull(r, data)
		if n > 0 {
			sent += int64(n)
			if max > 0 && sent > max {
				return Result{}, errTooLarge
			}
			binary.BigEndian.PutUint32(hdr, uint32(n))
			if _, werr := c.c.Write(buf[:4+n]); werr != nil {
				// clamd may have answered and closed (size limit): read
				// its reply for the real reason.
				writeErr = werr
				break
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("read file: %w", err)
		}
	}
	if writeErr == nil {
		binary.BigEndian.PutUint32(hdr, 0)
		if _, err := c.c.Write(hdr); err != nil {
			writeErr = err
		}
	}
	reply, err := c.readReply(ctx, session)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if writeErr != nil {
			return Result{}, fmt.Errorf("%w: clamd write: %w (then %w)", scan.ErrScanFailed, writeErr, err)
		}
		return Result{}, err
	}
	return parseResult(reply)
}

var errTooLarge = errors.New("stream larger than StreamMaxLength")

// parseResult reads "stream: OK" and "stream: NAME FOUND"; anything else
// fails.
func parseResult(reply string) (Result, error) {
	body, ok := strings.CutPrefix(reply, "stream: ")
	switch {
	case ok && body == "OK":
		return Result{}, nil
	case ok && strings.HasSuffix(body, " FOUND"):
		sig := strings.TrimSpace(strings.TrimSuffix(body, " FOUND"))
		if sig == "" {
			break
		}
		return Result{Found: true, Signature: sig}, nil
	}
	return Result{}, fmt.Errorf("%w: clamd replied %q", scan.ErrScanFailed, reply)
}
