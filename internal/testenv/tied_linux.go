package testenv

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startTied starts cmds so that they get SIGKILL when the test process
// exits. Pdeathsig fires when the starting thread ends, so they are started
// from a goroutine that keeps its thread locked for the life of the process.
func startTied(cmds []*exec.Cmd) error {
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		for _, c := range cmds {
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := c.Start(); err != nil {
				errc <- err
				return // the thread ends, killing those already started
			}
		}
		errc <- nil
		select {}
	}()
	return <-errc
}
