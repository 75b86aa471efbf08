// Package supervisor owns the process side of the ipfailover agent: the
// PID-1 init that reaps zombies and forwards signals (init.go), and the
// lifecycle of the single keepalived process it supervises: config
// validation before every write, atomic config replacement, SIGHUP reloads
// only when the rendered bytes change and keepalived can take the signal,
// restarts with capped exponential backoff, and graceful stop with SIGKILL
// escalation (keepalived.go).
//
// The package knows nothing about how the configuration is produced or how
// VIPs are removed: the caller injects a Render and a ReleaseVIPs function,
// so this package never imports env or render.
package supervisor
