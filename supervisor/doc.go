// Package supervisor owns the process side of the ipfailover agent: the
// PID-1 init that reaps zombies and forwards signals (init.go), and the
// lifecycle of the single keepalived process it supervises: config
// validation before every write, atomic config replacement that never
// touches a file the agent did not write (config.go), SIGHUP reloads only
// when the rendered bytes change and keepalived can take the signal,
// restarts after a crash (at once after a healthy run, with capped
// exponential backoff for consecutive crashes), replacement of a stopped
// or hung keepalived, and graceful stop with SIGKILL escalation
// (keepalived.go). It also guards the agent's private state: the run
// directory (rundir.go) and the one-agent-per-configuration lock (lock.go).
//
// The package knows nothing about how the configuration is produced or how
// VIPs are removed: the caller injects a Render and a ReleaseVIPs function,
// so this package never imports env or render.
package supervisor
