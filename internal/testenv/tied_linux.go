package testenv

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// tied is the goroutine that starts every server a test process runs.
// Pdeathsig fires when the thread that started the child ends, not the
// process, so the starts all happen on one thread that stays locked for the
// life of the test process: a test binary that dies (a panic, a -timeout)
// takes its redis-servers with it instead of leaving them on the machine.
var tied struct {
	once  sync.Once
	start chan tiedStart
}

type tiedStart struct {
	cmd  *exec.Cmd
	done chan error
}

// startTied starts cmd so that it gets SIGKILL when the test process exits.
func startTied(cmd *exec.Cmd) error {
	tied.once.Do(func() {
		tied.start = make(chan tiedStart)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must not end
			for s := range tied.start {
				if s.cmd.SysProcAttr == nil {
					s.cmd.SysProcAttr = &syscall.SysProcAttr{}
				}
				s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
				s.done <- s.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	tied.start <- tiedStart{cmd, done}
	return <-done
}
