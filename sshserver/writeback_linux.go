//go:build linux && (amd64 || arm64)

package sshserver

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is sync_file_range(2)'s SYNC_FILE_RANGE_WRITE: start
// writing the dirty pages of the range, without waiting for them.
const syncFileRangeWrite = 0x2

// startWriteback asks the kernel to start writing f's dirty pages to disk
// and returns without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE over the whole file). It promises nothing about
// durability: only fsync does. It may block while the disk's queue is full.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, 0, 0, syncFileRangeWrite, 0, 0)
	})
}
