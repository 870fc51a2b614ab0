//go:build linux

package sshserver

import (
	"fmt"
	"syscall"

	"github.com/pkg/sftp"
)

// stReadOnly is statvfs's ST_RDONLY flag.
const stReadOnly = 0x1

// diskStats returns the statvfs figures of the file system holding dir.
func diskStats(dir string) (*sftp.StatVFS, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %q: %w", dir, err)
	}
	return &sftp.StatVFS{
		Bsize:   uint64(st.Bsize),
		Frsize:  uint64(st.Frsize),
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Files:   st.Files,
		Ffree:   st.Ffree,
		Favail:  st.Ffree,
		Flag:    uint64(st.Flags),
		Namemax: uint64(st.Namelen),
	}, nil
}
