package lab

import "github.com/ipfailover/ipfailover/internal/procfs"

// Proc is one process as seen from the host's /proc (host PIDs).
type Proc = procfs.Proc
