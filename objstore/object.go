package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Object is an open object: an io.ReadSeeker of Info.Size bytes, for
// http.ServeContent. Seeking costs nothing; a Read after a seek opens a
// ranged GET from that offset to the end, pinned to the object's ETag (an
// object replaced meanwhile is an error, not a mix of two). A Read that
// gets no byte for Config.Timeout fails. Close it when done. It is not
// safe for concurrent use.
type Object struct {
	Info

	c    *Client
	name string
	ctx  context.Context

	pos    int64         // where the next Read reads
	body   io.ReadCloser // the open GET, reading at bodyAt; nil if none
	bodyAt int64
	cancel context.CancelFunc // of the open GET
	closed bool
}

// Open opens the object key for reading; ErrNotExist if there is none. Its
// description is asked at once (within Config.Timeout); its data is read
// as the Object is read, under ctx: cancelling ctx ends the reads.
func (c *Client) Open(ctx context.Context, key string) (*Object, error) {
	info, err := c.Stat(ctx, key)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Op = "open"
		}
		return nil, err
	}
	name, _ := c.name("open", key) // valid: Stat checked it
	return &Object{Info: info, c: c, name: name, ctx: ctx}, nil
}

// Read reads from the current offset.
func (o *Object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, &Error{Op: "read", Key: o.Key, Err: errors.New("object is closed")}
	}
	if o.pos >= o.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil || o.bodyAt != o.pos {
		o.closeBody()
		if err := o.openBody(); err != nil {
			return 0, err
		}
	}
	if rest := o.Size - o.pos; int64(len(p)) > rest {
		p = p[:rest] // a longer body than the object is cut
	}
	// No byte for Timeout: the GET is given up.
	stall := time.AfterFunc(o.c.cfg.Timeout, o.cancel)
	n, err := o.body.Read(p)
	stalled := !stall.Stop()
	o.pos += int64(n)
	o.bodyAt = o.pos
	switch {
	case err == io.EOF && o.pos < o.Size:
		o.closeBody()
		return n, &Error{Op: "read", Key: o.Key, Err: fmt.Errorf("the store's answer ended at %d of %d bytes: %w", o.pos, o.Size, io.ErrUnexpectedEOF)}
	case err == io.EOF:
		o.closeBody()
		return n, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		o.closeBody()
		return n, &Error{Op: "read", Key: o.Key, Err: fmt.Errorf("the store's answer ended at %d of %d bytes: %w", o.pos, o.Size, err)}
	case err != nil:
		o.closeBody()
		if stalled {
			err = fmt.Errorf("%w: no data from %s for %s", ErrUnreachable, o.c.cfg.Endpoint, o.c.cfg.Timeout)
		}
		return n, &Error{Op: "read", Key: o.Key, Err: err}
	}
	return n, nil
}

func (o *Object) openBody() error {
	ctx, cancel := context.WithCancel(o.ctx)
	opts := minio.GetObjectOptions{}
	if o.ETag != "" {
		if err := opts.SetMatchETag(o.ETag); err != nil {
			cancel()
			return &Error{Op: "read", Key: o.Key, Err: err}
		}
	}
	if o.pos > 0 {
		if err := opts.SetRange(o.pos, 0); err != nil {
			cancel()
			return &Error{Op: "read", Key: o.Key, Err: err}
		}
	}
	// No answer for Timeout: the GET is given up.
	stall := time.AfterFunc(o.c.cfg.Timeout, cancel)
	body, oi, _, err := o.c.core.GetObject(ctx, o.c.cfg.Bucket, o.name, opts)
	stalled := !stall.Stop()
	if err != nil {
		cancel()
		if stalled {
			err = fmt.Errorf("%w: no answer from %s in %s", ErrUnreachable, o.c.cfg.Endpoint, o.c.cfg.Timeout)
		}
		return o.c.fail(ctx, "read", o.Key, err)
	}
	if want := o.Size - o.pos; oi.Size >= 0 && oi.Size != want {
		_ = body.Close()
		cancel()
		return &Error{Op: "read", Key: o.Key, Err: fmt.Errorf("the store answered %d bytes for the %d from offset %d", oi.Size, want, o.pos)}
	}
	o.body, o.bodyAt, o.cancel = body, o.pos, cancel
	return nil
}

func (o *Object) closeBody() {
	if o.body != nil {
		_ = o.body.Close()
		o.cancel()
		o.body, o.cancel = nil, nil
	}
}

// Seek sets the offset of the next Read; it makes no request.
func (o *Object) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = o.pos + offset
	case io.SeekEnd:
		pos = o.Size + offset
	default:
		return o.pos, &Error{Op: "seek", Key: o.Key, Err: fmt.Errorf("whence %d", whence)}
	}
	if pos < 0 {
		return o.pos, &Error{Op: "seek", Key: o.Key, Err: fmt.Errorf("offset %d before the start", pos)}
	}
	o.pos = pos
	return pos, nil
}

// Close ends any open GET.
func (o *Object) Close() error {
	o.closeBody()
	o.closed = true
	return nil
}

var _ io.ReadSeekCloser = (*Object)(nil)
