package main

// Probes for what a box is handed and the kernel counters it can take
// (issue #15); kept apart from main.go.
//
//	probe tty-ioctl NAME...   on fd 0: excl (TIOCEXCL), xonc (TCXONC TCOOFF), setd (TIOCSETD N_NULL),
//	                          cons (TIOCCONS): "NAME: ok" or errno, printed after all of them
//	probe ptys N              open up to N pseudo-terminals: "ptys: K" and the errno that stopped it
//	probe inotify N           make up to N inotify instances: "inotify: K ..."
//	probe sigqueue N          queue up to N real-time signals to itself: "sigqueue: K ..."
//	probe mqueue N            make up to N POSIX message queues of 10 x 8 KiB: "mqueue: K ..."
//	probe io-setup N          make up to N AIO contexts of 4096 events: "io_setup: K ..."
//	probe fd-send PATH        connect to the unix socket PATH and pass it fds 1 and 2
//	probe fd-recv PATH DUR    accept one connection on PATH, take the fds passed, wait 500ms
//	                          (for the sender to exit), then write "foreign\n" to each every
//	                          50ms for DUR, ignoring errors

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func handed(args []string) bool {
	count := func() int {
		if len(args) != 2 {
			usage()
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n <= 0 {
			usage()
		}
		return n
	}
	switch args[0] {
	case "tty-ioctl":
		ttyIoctl(args[1:])
	case "ptys":
		upTo("ptys", count(), func() error {
			_, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
			return err
		})
	case "inotify":
		upTo("inotify", count(), func() error {
			_, err := unix.InotifyInit1(0)
			return err
		})
	case "sigqueue":
		sigqueue(count())
	case "mqueue":
		i := 0
		upTo("mqueue", count(), func() error {
			i++
			attr := [8]int64{0, 10, 8192}
			name := fmt.Sprintf("probe-%d-%d", os.Getpid(), i)
			_, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, ptr(name), unix.O_CREAT|unix.O_RDWR, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
			if e != 0 {
				return e
			}
			return nil
		})
	case "io-setup":
		upTo("io_setup", count(), func() error {
			var ctx uint64
			return raw(unix.SYS_IO_SETUP, 4096, uintptr(unsafe.Pointer(&ctx)))
		})
	case "fd-send":
		if len(args) != 2 {
			usage()
		}
		fail(fdSend(args[1]))
	case "fd-recv":
		if len(args) != 3 {
			usage()
		}
		d, err := time.ParseDuration(args[2])
		if err != nil {
			usage()
		}
		fail(fdRecv(args[1], d))
	default:
		return false
	}
	return true
}

// upTo calls f until it fails or n calls succeeded, keeping what it made.
func upTo(name string, n int, f func() error) {
	k := 0
	var err error
	for k < n {
		if err = f(); err != nil {
			break
		}
		k++
	}
	if err != nil {
		fmt.Printf("%s: %d %s\n", name, k, result(err))
		return
	}
	fmt.Printf("%s: %d\n", name, k)
}

func ttyIoctl(names []string) {
	var out []string
	for _, n := range names {
		var err error
		switch n {
		case "excl":
			err = unix.IoctlSetInt(0, unix.TIOCEXCL, 0)
		case "xonc":
			err = unix.IoctlSetInt(0, unix.TCXONC, unix.TCOOFF)
		case "setd":
			err = unix.IoctlSetPointerInt(0, unix.TIOCSETD, 27) // N_NULL
		case "cons":
			err = unix.IoctlSetInt(0, unix.TIOCCONS, 0)
		default:
			usage()
		}
		out = append(out, n+": "+result(err))
	}
	// Non-blocking: after TCOOFF on a terminal that is also stdout, a
	// blocking write would wait forever.
	unix.SetNonblock(1, true)
	unix.Write(1, []byte(strings.Join(out, "\n")+"\n"))
}

// sigqueue queues a real-time signal, blocked, to this thread until the
// kernel refuses (RLIMIT_SIGPENDING).
func sigqueue(n int) {
	runtime.LockOSThread()
	const sig = 40 // a real-time signal the Go runtime does not use
	set := unix.Sigset_t{}
	set.Val[0] = 1 << (sig - 1)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fail(err)
	}
	pid, tid := unix.Getpid(), unix.Gettid()
	var info [128]byte
	*(*int32)(unsafe.Pointer(&info[0])) = sig
	*(*int32)(unsafe.Pointer(&info[8])) = -1 // SI_QUEUE
	upTo("sigqueue", n, func() error {
		return raw(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(pid), uintptr(tid), sig, uintptr(unsafe.Pointer(&info[0])))
	})
}

func fdSend(path string) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, _, err = c.WriteMsgUnix([]byte{1}, unix.UnixRights(1, 2), nil)
	if err == nil {
		fmt.Println("fd-send: ok")
	}
	return err
}

func fdRecv(path string, d time.Duration) error {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	c, err := l.AcceptUnix()
	if err != nil {
		return err
	}
	oob := make([]byte, unix.CmsgSpace(8))
	_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 1), oob)
	if err != nil {
		return err
	}
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cms) == 0 {
		return fmt.Errorf("no fds passed: %v", err)
	}
	fds, err := unix.ParseUnixRights(&cms[0])
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, fd := range fds {
			unix.Write(fd, []byte("foreign\n"))
		}
	}
	return nil
}
