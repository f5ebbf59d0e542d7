package main

import "syscall"

// childAttr makes a child process die with the driver, even when the
// driver is killed.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
