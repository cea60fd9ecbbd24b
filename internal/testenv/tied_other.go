//go:build !linux

package testenv

import "os/exec"

// startTied starts cmd; outside Linux it outlives a test process that exits
// without running its cleanups.
func startTied(cmd *exec.Cmd) error { return cmd.Start() }
