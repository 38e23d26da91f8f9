package s3

import "context"

// bufLimit bounds the part buffers of the whole Store, so that memory stays
// bounded however many objects are put at once: each buffer allocated by a
// Put holds a token until the Put ends.
type bufLimit chan struct{}

func newBufLimit(max int) bufLimit { return make(bufLimit, max) }

// partBuffers lends part buffers to one Put. A buffer is allocated only
// when none of the Put's earlier ones is free, and at most n of them, so a
// Put reuses its few buffers instead of leaving garbage behind each part.
type partBuffers struct {
	limit     bufLimit
	size      int64
	free      chan []byte
	allocated int
	max       int
}

func newPartBuffers(limit bufLimit, size int64, max int) *partBuffers {
	return &partBuffers{limit: limit, size: size, free: make(chan []byte, max), max: max}
}

// get returns a free buffer, allocating one if the Put has fewer than max
// and the Store's limit allows, else waiting for one to be put back.
func (p *partBuffers) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	var token chan<- struct{}
	if p.allocated < p.max {
		token = p.limit // a nil channel (at max) never proceeds
	}
	select {
	case b := <-p.free:
		return b, nil
	case token <- struct{}{}:
		p.allocated++
		return make([]byte, p.size), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a buffer for reuse.
func (p *partBuffers) put(b []byte) { p.free <- b }

// release gives the Store's tokens back once the Put is over.
func (p *partBuffers) release() {
	for range p.allocated {
		<-p.limit
	}
}
