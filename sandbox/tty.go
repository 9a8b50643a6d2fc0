package sandbox

import (
	"os"
	"os/exec"
	"os/signal"

	"golang.org/x/sys/unix"
)

// With --tty the box makes its terminal in its own devpts (OpTTY), so that
// ttyname(3) and tty(1) work inside, and passes the master side to the
// supervisor over the sync socket. The box never gets the caller's own
// terminal, so TIOCSTI inside can only type into the box's.

// ttyStdio leaves pid 1 nothing of the caller's: its stdio are /dev/null,
// and the payload's are the box's terminal.
func (sv *supervisor) ttyStdio(cmd *exec.Cmd) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	return nil
}

// relay connects the box's terminal to the caller's: stdin in, output out,
// the caller's terminal in raw mode meanwhile, window size changes passed on.
func (sv *supervisor) relay(master *os.File) {
	s := sv.spec
	fd := int(master.Fd())
	if in, ok := s.Stdin.(*os.File); ok {
		if tio, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
			// Keys reach the box as typed; its terminal does the echo and
			// the line editing.
			raw := *tio
			raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
			raw.Oflag &^= unix.OPOST
			raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
			raw.Cflag = raw.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
			raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
			unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw)
			resize := func() {
				if ws, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err == nil {
					unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws)
				}
			}
			resize()
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, unix.SIGWINCH)
			go func() {
				for range winch {
					resize()
				}
			}()
			sv.restore = func() {
				signal.Stop(winch)
				close(winch)
				unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, tio)
			}
		}
	}
	if s.Stdin != nil {
		// Not waited for; stopped when the box is gone (stdinRelay).
		sv.stdin, _ = startStdinRelay(master, s.Stdin, false)
	}
	// Reading the master ends with EIO once every holder of the terminal
	// in the box has closed it, or at the end of the drain.
	sv.startCopy(s.Stdout, master)
}
