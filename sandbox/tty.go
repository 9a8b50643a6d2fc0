package sandbox

import (
	"io"
	"os"
	"os/exec"
	"os/signal"

	"golang.org/x/sys/unix"
)

// ttyStdio gives the box a new pseudo-terminal (--tty) and relays it: the
// caller's stdin to the terminal, the terminal to the caller's stdout. The
// box never gets the caller's own terminal, so TIOCSTI inside can only type
// into the box's.
func (sv *supervisor) ttyStdio(cmd *exec.Cmd) error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &SetupError{Step: "--tty: open /dev/ptmx", Err: err}
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return &SetupError{Step: "--tty: unlock the terminal", Err: err}
	}
	// TIOCGPTPEER opens the peer without a path lookup in /dev/pts.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		master.Close()
		return &SetupError{Step: "--tty: open the terminal's peer", Err: errno}
	}
	slave := os.NewFile(sfd, "sandbox-tty")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	sv.closeAfterStart = append(sv.closeAfterStart, slave)

	s := sv.spec
	if in, ok := s.Stdin.(*os.File); ok {
		if tio, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
			// The caller's terminal goes raw: keys reach the box as typed,
			// and the box's terminal does the echo and the line editing.
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
		// Not waited for: a read from the caller's terminal blocks until
		// the next key, and the box may be long gone by then.
		go io.Copy(master, s.Stdin)
	}
	out := s.Stdout
	if out == nil {
		out = io.Discard
	}
	sv.ncopy++
	go func() {
		// Reading the master ends with EIO once every holder of the
		// terminal in the box has closed it.
		sv.copies <- sv.copyLimited(out, master)
		master.Close()
	}()
	return nil
}
