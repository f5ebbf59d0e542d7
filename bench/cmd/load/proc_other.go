//go:build !linux

package main

import "syscall"

// childAttr: without a parent-death signal, children are stopped by the
// driver's own clean-up only.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
