package sandbox

// What the box is handed of the caller's: its stdio, always relayed
// through pipes (never passed), and the drain of its output after it ends,
// bounded.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// drainGrace is how long the supervisor still copies output once pid 1 of
// the box is gone. Every process of the box is dead then; what still holds
// the write end of an output pipe got it passed (SCM_RIGHTS) to something
// outside the box, such as another box, and must not keep this run going.
const drainGrace = 200 * time.Millisecond

// stdinRelay copies the caller's stdin into the box: into the write end of
// the box's stdin pipe, or the master of its --tty terminal. Run does not
// wait for it: a read from a terminal blocks until the next key, and the box
// may be long gone by then. A file is read only when poll(2) says it is
// readable, and stop ends the wait, so no keystroke meant for the caller's
// shell is taken after the box has exited.
type stdinRelay struct {
	dst      *os.File
	closeDst bool
	stopW    *os.File
}

func startStdinRelay(dst *os.File, src io.Reader, closeDst bool) (*stdinRelay, error) {
	stopR, stopW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	r := &stdinRelay{dst: dst, closeDst: closeDst, stopW: stopW}
	go func() {
		defer stopR.Close()
		if closeDst {
			defer dst.Close()
		}
		f, ok := src.(*os.File)
		if !ok {
			io.Copy(dst, src)
			return
		}
		copyPolled(dst, f, stopR)
	}()
	return r, nil
}

// stop ends the relay (it does not wait for it) and, for a pipe, closes
// its write end so that the box's reads see EOF.
func (r *stdinRelay) stop() {
	if r == nil {
		return
	}
	r.stopW.Close()
	if r.closeDst {
		r.dst.Close()
	}
}

// copyPolled copies src to dst, reading src only when it is readable and
// stop is not.
func copyPolled(dst, src, stop *os.File) {
	sfd, kfd := -1, -1
	if rc, err := src.SyscallConn(); err == nil {
		// Control, not Fd: Fd would put a pollable file in blocking mode.
		rc.Control(func(fd uintptr) { sfd = int(fd) })
	}
	if rc, err := stop.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { kfd = int(fd) })
	}
	if sfd < 0 || kfd < 0 {
		return
	}
	defer runtime.KeepAlive(src)
	defer runtime.KeepAlive(stop)
	buf := make([]byte, 32<<10)
	for {
		pfd := []unix.PollFd{{Fd: int32(sfd), Events: unix.POLLIN}, {Fd: int32(kfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if pfd[1].Revents != 0 {
			return
		}
		if pfd[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) == 0 {
			continue
		}
		n, err := unix.Read(sfd, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a pollable file, read by someone else meanwhile
		}
		if n <= 0 {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// sameFile tells whether stdout and stderr lead to the same place: the
// same writer, or files on the same inode (2>&1 on a terminal or a pipe).
func sameFile(a, b io.Writer) bool {
	if a == nil || b == nil {
		return false
	}
	if a == b {
		return true
	}
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 {
		return false
	}
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// outputPipe gives the box a pipe for one of stdout and stderr and copies
// what it writes to dst.
func (sv *supervisor) outputPipe(dst io.Writer) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, &SetupError{Step: "output pipe", Err: err}
	}
	sv.closeAfterStart = append(sv.closeAfterStart, w)
	sv.startCopy(dst, r)
	return w, nil
}

// startCopy copies the box's output from r (a pipe or a terminal master,
// pollable) to dst until EOF, an error, the limit, or the drain's end.
func (sv *supervisor) startCopy(dst io.Writer, r *os.File) {
	if dst == nil {
		dst = io.Discard
	}
	sv.outputs = append(sv.outputs, r)
	sv.ncopy++
	go func() {
		sv.copies <- sv.copyOut(dst, r)
		r.Close()
	}()
}

// reserve grants up to want bytes of output under --max-output (all of
// them without a limit); 0 means the limit is reached.
func (sv *supervisor) reserve(want int64) int64 {
	lim := sv.spec.MaxOutput
	if lim == 0 {
		return want
	}
	sv.outMu.Lock()
	defer sv.outMu.Unlock()
	want = min(want, lim-sv.reserved)
	sv.reserved += max(want, 0)
	return max(want, 0)
}

func (sv *supervisor) unreserve(n int64) {
	if sv.spec.MaxOutput == 0 || n <= 0 {
		return
	}
	sv.outMu.Lock()
	sv.reserved -= n
	sv.outMu.Unlock()
}

// overran records that the box wrote past --max-output.
func (sv *supervisor) overran() {
	sv.overrunOnce.Do(func() { close(sv.overrun) })
}

// copyOut copies the box's output from r to dst, counting every byte
// against --max-output: up to the limit everything passes, a byte past it
// is the overrun and nothing more is copied. Output is granted against the
// limit only once it is in the pipe, so a copier waiting for the box holds
// no share of it (stdout and stderr share one limit). Into a file (a
// terminal, a pipe, a regular file) the bytes move with splice(2), which
// keeps them out of user space.
func (sv *supervisor) copyOut(dst io.Writer, r *os.File) error {
	rc, err := r.SyscallConn()
	if err != nil {
		return err
	}
	dfd := -1
	if f, ok := dst.(*os.File); ok {
		if c, err := f.SyscallConn(); err == nil {
			c.Control(func(fd uintptr) { dfd = int(fd) })
		}
		defer runtime.KeepAlive(f)
	}
	buf := make([]byte, 64<<10)
	for {
		var grant, moved int64
		var over, eof, read bool
		var xerr error
		err := rc.Read(func(sfd uintptr) bool {
			for {
				avail, _ := unix.IoctlGetInt(int(sfd), unix.TIOCINQ)
				if avail <= 0 {
					// Empty: at EOF (no writer left, or a terminal
					// whose slave is closed) or waiting for the box.
					p := []unix.PollFd{{Fd: int32(sfd), Events: unix.POLLIN}}
					unix.Poll(p, 0)
					switch {
					case p[0].Revents&unix.POLLIN != 0:
						continue // written meanwhile
					case p[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0:
						eof = true
						return true
					}
					return false
				}
				if grant = sv.reserve(int64(min(avail, len(buf)))); grant == 0 {
					over, moved = true, int64(avail)
					return true
				}
				if dfd >= 0 {
					m, err := unix.Splice(int(sfd), nil, dfd, nil, int(grant), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
					switch {
					case err == unix.EINTR:
						sv.unreserve(grant)
						continue
					case err == unix.EAGAIN:
						// dst is full (a pipe or a non-blocking socket
						// the caller has not read yet): wait for it
						// here, as a blocking write would.
						sv.unreserve(grant)
						unix.Poll([]unix.PollFd{{Fd: int32(dfd), Events: unix.POLLOUT}}, 1000)
						continue
					case err == unix.EINVAL || err == unix.EBADF:
						// dst does not take splice (O_APPEND, a
						// terminal master as the source): read and write.
						dfd = -1
					default:
						moved, xerr = m, err
						return true
					}
				}
				m, err := unix.Read(int(sfd), buf[:grant])
				if err == unix.EINTR || err == unix.EAGAIN {
					sv.unreserve(grant)
					continue
				}
				if m <= 0 {
					sv.unreserve(grant)
					grant, eof = 0, true // EIO: a terminal whose slave is closed
					return true
				}
				read, moved = true, int64(m)
				return true
			}
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return sv.drainRest(dst, rc)
		}
		if err != nil || eof {
			return nil
		}
		sv.output.Add(moved)
		if over {
			sv.overran()
			return nil
		}
		sv.unreserve(grant - moved)
		if read {
			if _, werr := dst.Write(buf[:moved]); werr != nil {
				return nil
			}
		}
		if xerr != nil || moved == 0 {
			return nil // the caller's side is gone
		}
	}
}

// drainRest ends the copy at the drain's deadline: what is in the pipe now
// was written before it (at most the pipe's size) and is copied; nothing
// written later is waited for.
func (sv *supervisor) drainRest(dst io.Writer, rc interface {
	Control(func(uintptr)) error
}) error {
	var rest []byte
	rc.Control(func(fd uintptr) {
		avail, _ := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
		if avail <= 0 {
			return
		}
		rest = make([]byte, avail)
		n := 0
		for n < avail {
			m, err := unix.Read(int(fd), rest[n:])
			if err == unix.EINTR {
				continue
			}
			if m <= 0 {
				break
			}
			n += m
		}
		rest = rest[:n]
	})
	for len(rest) > 0 {
		grant := sv.reserve(int64(len(rest)))
		if grant == 0 {
			sv.output.Add(int64(len(rest)))
			sv.overran()
			return nil
		}
		sv.output.Add(grant)
		if _, err := dst.Write(rest[:grant]); err != nil {
			return nil
		}
		rest = rest[grant:]
	}
	return nil
}

// startDrain bounds the copying of output once pid 1 of the box is gone:
// for drainGrace at most, and never past --timeout. Then the read ends are
// closed, and whatever still holds a write end gets EPIPE.
func (sv *supervisor) startDrain() {
	deadline := time.Now().Add(drainGrace)
	if t := sv.spec.Timeout; t > 0 && sv.start.Add(t).Before(deadline) {
		deadline = sv.start.Add(t)
	}
	for _, r := range sv.outputs {
		r.SetReadDeadline(deadline)
	}
}

// abandon ends the relays of a box that did not start: the stdin relay,
// and the output copiers, which would otherwise wait for an EOF that the
// supervisor's own copies of the write ends keep from coming.
func (sv *supervisor) abandon() {
	sv.stdin.stop()
	for _, f := range append(sv.closeAfterStart, sv.outputs...) {
		f.Close()
	}
}

// setNonblock makes a descriptor received from the box pollable, so that
// reads from it honour the drain's deadline.
func setNonblock(fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("set non-blocking: %w", err)
	}
	return nil
}
