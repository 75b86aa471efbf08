package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/render"
	"github.com/ipfailover/ipfailover/scripts"
)

// Files in a configuration's run directory.
const (
	// fifoName is the notify FIFO keepalived writes state changes to.
	fifoName = "vrrp.fifo"
	// checkName is the health check result keepalived tracks.
	checkName = "check.status"
)

// RunDir is the agent-owned directory of one configuration under root:
// keepalived's pid files and TMPDIR, the notify FIFO and the health check
// status file.
func RunDir(root string, cfg env.Config) string {
	return filepath.Join(root, render.Scrub(cfg.Name))
}

// newPlan is what cfg means on host, wired to the run directory dir: the
// notify FIFO (so the agent, not keepalived, runs the notify script) and
// the health check status file.
func newPlan(cfg env.Config, host render.Host, dir, version string) (render.Plan, error) {
	return render.NewPlan(cfg, host, planOptions(dir, version))
}

func planOptions(dir, version string) render.Options {
	return render.Options{Version: version, NotifyFIFO: filepath.Join(dir, fifoName), CheckFile: filepath.Join(dir, checkName)}
}

// configText renders keepalived.conf for p with the embedded template or
// the user's, and the password file's content, both read again on every
// call so that a changed template or Secret is used on reload.
func configText(p render.Plan) ([]byte, error) {
	if f := p.Config.AuthPasswordFile; f != "" {
		pw, err := render.ReadAuthPassword(f)
		if err != nil {
			return nil, err
		}
		p.Options.AuthPassword = render.Secret(pw)
	}
	t, err := loadTemplate(p.Config)
	if err != nil {
		return nil, err
	}
	return t.Execute(p.Data())
}

// redactedPassword stands in for the password file's content in `ipfailover
// render`'s output: the password is never shown. It is a valid password, so
// the output still passes `keepalived -t`.
const redactedPassword = "REDACTED"

func loadTemplate(cfg env.Config) (*render.Template, error) {
	if cfg.KeepalivedTemplate == "" {
		return render.Default()
	}
	text, err := os.ReadFile(cfg.KeepalivedTemplate)
	if err != nil {
		return nil, fmt.Errorf("OPENSHIFT_HA_KEEPALIVED_TEMPLATE: %w", err)
	}
	return render.Parse(cfg.KeepalivedTemplate, string(text))
}

// renderOnce is the supervisor's Render: its first call, the supervisor's
// start, returns conf, which the pre-flight check already rendered and
// passed through `keepalived -t`; later calls (reloads, restarts) render the
// plan as it is then (plan: the Kubernetes peers may have changed it) with
// the template as it is then. The supervisor calls it from one goroutine.
func renderOnce(conf []byte, plan func() render.Plan) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		if c := conf; c != nil {
			conf = nil
			return c, nil
		}
		return configText(plan())
	}
}

// Render is `ipfailover render`: keepalived.conf exactly as Run would write
// it for cfg. ifname and addrs stand in for the host's facts; with both
// given the host is not asked.
func Render(cfg env.Config, ifname string, addrs []netip.Addr, d Deps) ([]byte, error) {
	d = d.withDefaults()
	host, err := hostFacts(cfg, ifname, addrs, d.OpenNet, d.Log)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(cfg, host, RunDir(d.RunDirRoot, cfg), d.Version)
	if err != nil {
		return nil, err
	}
	if f := cfg.AuthPasswordFile; f != "" {
		// Checked like run checks it, but never printed.
		if _, err := render.ReadAuthPassword(f); err != nil {
			return nil, err
		}
		p.Config.AuthPasswordFile = ""
		p.Options.AuthPassword = redactedPassword
	}
	return configText(p)
}

// checkRunFiles checks on the node what render cannot check off-node: the
// template is readable. A missing or non-executable script is not fatal:
// keepalived disabled such a script for the original image and kept
// serving, so the agent logs it, reports it (/readyz, /status, metrics) and
// skips it until it appears.
func checkRunFiles(cfg env.Config, log *slog.Logger) error {
	for _, s := range []struct{ name, line string }{
		{"OPENSHIFT_HA_CHECK_SCRIPT", cfg.CheckScript},
		{"OPENSHIFT_HA_NOTIFY_SCRIPT", cfg.NotifyScript},
	} {
		if s.line == "" {
			continue
		}
		if p := scripts.ProgramProblem(env.ScriptProgram(s.line)); p != "" {
			log.Error("script cannot be run: it is skipped (the VIPs are served without it, as the original image's keepalived did) until it appears",
				"variable", s.name, "script", s.line, "problem", p)
		}
	}
	if cfg.KeepalivedTemplate != "" {
		if _, err := os.ReadFile(cfg.KeepalivedTemplate); err != nil {
			return &env.InvalidError{Problems: []env.Problem{{Variable: "OPENSHIFT_HA_KEEPALIVED_TEMPLATE", Value: cfg.KeepalivedTemplate,
				Reason: fmt.Sprintf("cannot be read: %v", errors.Unwrap(err))}}}
		}
	}
	return nil
}
