package lab

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Environment markers of the helper mode. They are removed before the node's
// process is executed, so it never sees them.
const (
	helperEnv      = "IPF_LAB_HELPER" // "init": prepare the node and exec its PID 1
	helperTmpfsEnv = "IPF_LAB_TMPFS"  // ':'-separated mount points that get a private tmpfs
)

// MaybeRunHelper turns the process into the node-init helper when the lab
// started it as one, and otherwise returns at once. Call it first thing in
// main or TestMain of every binary that uses the package: Node.Start
// re-executes that same binary inside the node's fresh PID and mount
// namespaces, where the helper mounts the private tmpfs directories and then
// replaces itself (keeping PID 1) with the node's real process.
func MaybeRunHelper() {
	if os.Getenv(helperEnv) != "init" {
		return
	}
	err := runInitHelper(os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "lab init helper: %v\n", err)
	os.Exit(127)
}

// runInitHelper returns only on error.
func runInitHelper(argv, environ []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("no command to run")
	}
	env, mounts := helperEnviron(environ)
	for _, m := range mounts {
		if err := unix.Mount("tmpfs", m, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", m, err)
		}
	}
	if err := unix.Exec(argv[0], argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	return nil
}

// helperEnviron splits the helper's environment into the node process's
// environment and the tmpfs mount points.
func helperEnviron(environ []string) (env, mounts []string) {
	for _, kv := range environ {
		switch {
		case strings.HasPrefix(kv, helperEnv+"="):
		case strings.HasPrefix(kv, helperTmpfsEnv+"="):
			for _, m := range strings.Split(strings.TrimPrefix(kv, helperTmpfsEnv+"="), ":") {
				if m != "" {
					mounts = append(mounts, m)
				}
			}
		default:
			env = append(env, kv)
		}
	}
	return env, mounts
}
