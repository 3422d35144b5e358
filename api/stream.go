package api

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/recovery"
)

// streamBuffer is how much of a stream is gathered before it is handed to
// Fasthttp, so that handing over costs little. Fasthttp itself sends a
// streamed body in chunks of 4 KiB, each its own write to the socket: for
// a fast export those writes are most of the service's remaining CPU.
const streamBuffer = 256 << 10

// Stream answers with a body that write produces after the handler has
// returned; the handler sets the status and headers first and returns nil.
//
// ctx is cancelled when the client goes away or a write fails; it has no
// deadline of its own, so write bounds its work itself. Each write to the
// client gets its own deadline (the stream write timeout) instead of one
// for the whole answer, so a long export finishes as long as the client
// keeps reading.
//
// A stream that fails looks failed: when write returns an error (or
// panics) the connection is closed without the terminating chunk, and the
// client sees a truncated answer, never a clean end.
func Stream(c *fiber.Ctx, write func(ctx context.Context, w *bufio.Writer) error) {
	st, _ := c.Locals(requestStateKey).(*requestState)
	if st == nil { // no requestContext middleware (a bare app in a test)
		st = &requestState{log: slog.Default()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.add(cancel)
	st.mu.Lock()
	st.streaming = true
	st.mu.Unlock()
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer st.finish()
		dw := &deadlineWriter{w: bw, conn: conn, timeout: st.streamWriteTimeout}
		w := bufio.NewWriterSize(dw, streamBuffer)
		err := recovery.Call(st.log, "http_stream", func() error {
			if err := write(ctx, w); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			if !errors.Is(err, errWrite) {
				st.log.Warn("stream failed; aborting the answer", "err", err)
			}
			// Closing before returning: Fasthttp writes the terminating
			// chunk only once this function returns, and then fails to.
			if conn != nil {
				_ = conn.Close()
			}
		}
	})
}

// errWrite marks a failed write to the client (it went away or stalled).
var errWrite = errors.New("write to the client failed")

// deadlineWriter pushes the connection's write deadline forward before
// each write, and hands the bytes to Fasthttp at once.
type deadlineWriter struct {
	w       *bufio.Writer
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.conn != nil && d.timeout > 0 {
		_ = d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	if err != nil {
		return n, errors.Join(errWrite, err)
	}
	return n, nil
}
