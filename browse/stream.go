package browse

import (
	"context"
	"io"
)

// streamChunk is how much of a file one worker of WriteTo reads at once.
const streamChunk = 8 << 20

// WriteTo writes bytes [off, off+n) of f (cut at the end of the file) to
// w in order, reading up to ahead chunks of 8 MiB in parallel, and
// returns how many bytes it wrote. It stays on f's version: if that
// version's objects are deleted meanwhile the error wraps ErrStale, and
// what was written is what it was.
func (f *File) WriteTo(ctx context.Context, w io.Writer, off, n int64, ahead int) (int64, error) {
	if off >= f.m.Size || n <= 0 {
		return 0, nil
	}
	n = min(n, f.m.Size-off)
	ahead = max(ahead, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type chunk struct {
		buf  []byte
		err  error
		done chan struct{}
	}
	queue := make(chan *chunk, ahead)
	go func() {
		defer close(queue)
		for pos := off; pos < off+n; pos += streamChunk {
			c := &chunk{buf: make([]byte, min(streamChunk, off+n-pos)), done: make(chan struct{})}
			go func(pos int64) {
				defer close(c.done)
				if _, err := f.ReadAt(ctx, c.buf, pos); err != nil && err != io.EOF {
					c.err = err
				}
			}(pos)
			select {
			case queue <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	var written int64
	for c := range queue {
		<-c.done
		if c.err != nil {
			return written, c.err
		}
		m, err := w.Write(c.buf)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, ctx.Err()
}
