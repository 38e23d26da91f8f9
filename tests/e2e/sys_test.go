package e2e

import "golang.org/x/sys/unix"

func pidfdOpen(pid int) (int, error) { return unix.PidfdOpen(pid, 0) }

func pollReadable(fd int) {
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 30000)
		if err != unix.EINTR {
			return
		}
	}
}
