//go:build !linux

package testenv

import "os/exec"

// startTied starts cmds; outside Linux they outlive a test process that
// exits without StopRedisCluster.
func startTied(cmds []*exec.Cmd) error {
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return err
		}
	}
	return nil
}
