package ginsession

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// writer commits the session just before the response headers go out: at
// the first Write, WriteString, WriteHeaderNow, Flush or Hijack. gin's own
// WriteHeader only records the status, so it needs no hook. Flush, Hijack
// and Unwrap are kept, so streaming (SSE) and upgrades work.
type writer struct {
	gin.ResponseWriter
	s      *Session
	failed bool
}

var _ gin.ResponseWriter = (*writer)(nil)

// before commits; false means the response was replaced (503 or 500).
func (w *writer) before() bool {
	if w.failed {
		return false
	}
	if w.ResponseWriter.Written() {
		return true
	}
	if err := w.s.commit(); err != nil {
		w.s.failResponse(w.ResponseWriter, err)
		w.failed = true
		return false
	}
	return true
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.before() {
		return 0, ErrSaveFailed
	}
	return w.ResponseWriter.Write(b)
}

func (w *writer) WriteString(s string) (int, error) {
	if !w.before() {
		return 0, ErrSaveFailed
	}
	return w.ResponseWriter.WriteString(s)
}

func (w *writer) WriteHeaderNow() {
	if w.before() {
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *writer) Flush() {
	if w.before() {
		w.ResponseWriter.Flush()
	}
}

func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if err := w.s.commit(); err != nil {
		return nil, nil, err
	}
	return w.ResponseWriter.Hijack()
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
