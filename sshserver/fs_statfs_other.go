//go:build !linux

package sshserver

import (
	"errors"

	"github.com/pkg/sftp"
)

// stReadOnly is statvfs's ST_RDONLY flag.
const stReadOnly = 0x1

// diskStats is only implemented on Linux, where Sluice runs.
func diskStats(string) (*sftp.StatVFS, error) {
	return nil, errors.New("statvfs is not supported on this platform")
}
