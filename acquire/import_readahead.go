package acquire

import (
	"errors"
	"io"
	"sync"
)

// Read-ahead between the source download and the destination upload of a
// blob: a goroutine reads the source into a few buffers while the upload
// drains them, so that neither side waits for the other (one goroutine
// alternating a read and a write leaves each connection idle half the
// time). Memory: readAheadDepth+2 buffers of readAheadSize per blob in
// flight, from a pool.
const (
	readAheadSize  = 256 << 10
	readAheadDepth = 4
)

var errReadAheadClosed = errors.New("read-ahead closed")

type chunk struct {
	buf *[]byte
	n   int
	err error
}

// readAhead reads src ahead of its consumer. Read and Close may be called
// from different goroutines (net/http may still read a request body after
// RoundTrip returned); the reading goroutine exits when src fails or ends,
// or when Close is called (Close waits for it).
type readAhead struct {
	src    io.ReadCloser
	pool   *sync.Pool
	ch     chan chunk
	done   chan struct{}
	exited chan struct{}
	once   sync.Once

	mu     sync.Mutex // guards the consumer state below
	cur    []byte
	curBuf *[]byte
	err    error
	closed bool

	srcErr error // first error from src other than io.EOF; read after Close

	// atEOF, if not nil, is called once the consumer has read every byte
	// of a complete source (when Read first returns io.EOF).
	atEOF func()
}

func newReadAhead(src io.ReadCloser, pool *sync.Pool) *readAhead {
	r := &readAhead{src: src, pool: pool, ch: make(chan chunk, readAheadDepth), done: make(chan struct{}), exited: make(chan struct{})}
	go r.fill()
	return r
}

func (r *readAhead) fill() {
	defer close(r.exited)
	for {
		bp := r.pool.Get().(*[]byte)
		// Fill the buffer: fewer, larger hand-offs to the consumer.
		n, err := 0, error(nil)
		for n < len(*bp) && err == nil {
			var m int
			m, err = r.src.Read((*bp)[n:])
			n += m
		}
		if err != nil && err != io.EOF {
			r.srcErr = err
		}
		select {
		case r.ch <- chunk{buf: bp, n: n, err: err}:
		case <-r.done:
			r.pool.Put(bp)
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.cur) == 0 {
		if r.closed {
			return 0, errReadAheadClosed
		}
		if r.curBuf != nil {
			r.pool.Put(r.curBuf)
			r.curBuf = nil
		}
		if r.err != nil {
			if r.err == io.EOF && r.atEOF != nil {
				r.atEOF()
				r.atEOF = nil
			}
			return 0, r.err
		}
		r.mu.Unlock() // Close must not wait for a blocked Read
		var c chunk
		ok := false
		select {
		case c = <-r.ch:
			ok = true
		case <-r.done:
		}
		r.mu.Lock()
		if !ok || r.closed {
			if ok {
				r.pool.Put(c.buf)
			}
			return 0, errReadAheadClosed
		}
		r.curBuf, r.cur, r.err = c.buf, (*c.buf)[:c.n], c.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the reading goroutine, waits for it and closes src. Cancel
// the source request's context first if the source may be stalled.
func (r *readAhead) Close() error {
	var err error
	r.once.Do(func() {
		close(r.done)
		<-r.exited
		err = r.src.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.closed = true
		for {
			select {
			case c := <-r.ch:
				r.pool.Put(c.buf)
				continue
			default:
			}
			break
		}
		if r.curBuf != nil {
			r.pool.Put(r.curBuf)
			r.curBuf, r.cur = nil, nil
		}
	})
	return err
}
