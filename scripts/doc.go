// Package scripts owns running the user's scripts and the agent's check
// commands: one command at a time with a timeout, in a process group of
// its own that is killed when the run ends (so background children do not
// accumulate), with its output captured and bounded. Checker runs the
// health check on an interval; Notifier runs the notify script for every
// state change, serially and in order; both skip, and report, a script
// whose program is missing or not executable, as keepalived did for the
// original image.
package scripts
