package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/internal/cli"
)

// Usage is the help text printed before the flag list.
const Usage = `usage: ipfailover manifests [NAME] [flags]

Print the objects that deploy one failover configuration (ServiceAccount,
Role and RoleBinding for the Kubernetes API features, scripts ConfigMap,
Deployment/DaemonSet/DeploymentConfig), like
'oc adm ipfailover' did. Pipe to 'kubectl apply -f -'. NAME defaults to
ipfailover. Every value is checked exactly as the agent checks its
environment; on error nothing is printed on stdout and the exit code is 2.

flags:
`

// ErrUsage reports command-line syntax errors (unknown flag, extra
// arguments); the message has already been printed.
var ErrUsage = errors.New("invalid command line")

// Invocation is a parsed command line.
type Invocation struct {
	Request Request
	Format  Format
	// Create is the original's --create, accepted and ignored: this
	// command only prints.
	Create bool
}

// optionalString is a string flag that remembers whether it was set, for
// flags where "set to empty" differs from "not given".
type optionalString struct{ v *string }

func (o *optionalString) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return *o.v
}

func (o *optionalString) Set(s string) error { o.v = &s; return nil }

// Type names the value in the flag list.
func (o *optionalString) Type() string { return "string" }

// ParseArgs parses the command line over the defaults in req, with the
// flag names of `oc adm ipfailover` (plus --kind, --advert-interval,
// --metrics-address, --namespace, --output). Flag syntax errors and help
// go to out; it returns pflag.ErrHelp for -h/--help and ErrUsage for bad
// syntax (an unknown flag with a "did you mean").
// Values are not checked here: Build does that.
func ParseArgs(req Request, args []string, out io.Writer) (Invocation, error) {
	inv := Invocation{Request: req}
	r := &inv.Request
	var kind, output string
	var metrics optionalString

	fs := pflag.NewFlagSet("manifests", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	// str registers a string flag: the first name is the long flag, a
	// one-letter name its shorthand, further names long aliases.
	str := func(p *string, help string, names ...string) {
		def := *p
		short := ""
		if len(names) > 1 && len(names[1]) == 1 {
			short = names[1]
			names = append(names[:1:1], names[2:]...)
		}
		fs.StringVarP(p, names[0], short, def, help)
		for _, n := range names[1:] {
			fs.StringVar(p, n, def, help+" (alias of --"+names[0]+")")
		}
	}
	str(&r.Selector, "node selector key=value[,key=value], also OPENSHIFT_HA_SELECTOR; default: every node", "selector")
	str(&r.Replicas, "number of pods, to match the number of selected nodes (OPENSHIFT_HA_REPLICA_COUNT)", "replicas", "r")
	str(&r.VirtualIPs, "VIPs to keep available, e.g. 192.0.2.10,192.0.2.20-25 (OPENSHIFT_HA_VIRTUAL_IPS; required)", "virtual-ips")
	str(&r.WatchPort, "TCP port checked on the node; 0 disables the check (OPENSHIFT_HA_MONITOR_PORT)", "watch-port", "w")
	str(&r.Interface, "interface for VRRP and the VIPs; default: the default route's (OPENSHIFT_HA_NETWORK_INTERFACE)", "interface", "i")
	str(&r.VRRPIDOffset, "group N gets VRID offset+N; distinct per configuration (OPENSHIFT_HA_VRRP_ID_OFFSET)", "vrrp-id-offset")
	str(&r.VirtualIPGroups, "number of VRRP groups the VIPs are split into (OPENSHIFT_HA_VIP_GROUPS)", "virtual-ip-groups")
	str(&r.IPTablesChain, "filter chain for the VRRP multicast accept rule; empty: no rule (OPENSHIFT_HA_IPTABLES_CHAIN)", "iptables-chain")
	str(&r.CheckScript, "check script: a local file (embedded in a ConfigMap) or an absolute path in the pod (OPENSHIFT_HA_CHECK_SCRIPT)", "check-script")
	str(&r.CheckInterval, "seconds between checks (OPENSHIFT_HA_CHECK_INTERVAL)", "check-interval")
	str(&r.NotifyScript, "notify script: a local file (embedded in a ConfigMap) or an absolute path in the pod (OPENSHIFT_HA_NOTIFY_SCRIPT)", "notify-script")
	str(&r.Preemption, "nopreempt, preempt_delay N or preempt N (OPENSHIFT_HA_PREEMPTION)", "preempt-strategy", "preemption-strategy")
	str(&r.AdvertInterval, "VRRP advert interval in seconds; fractions switch IPv4 to VRRPv3 (OPENSHIFT_HA_ADVERT_INTERVAL)", "advert-interval")
	str(&r.AuthPasswordSecret, "Secret whose key \"password\" holds the VRRP password (1-8 printable ASCII bytes), mounted read-only (sets OPENSHIFT_HA_AUTH_PASSWORD_FILE); default: derived from NAME", "auth-password-secret")
	str(&r.Kubernetes, "auto: the agent uses the Kubernetes API (peers from the workload's pods, Events), and the output holds its Role and RoleBinding; off: neither (OPENSHIFT_HA_KUBERNETES)", "kubernetes")
	str(&r.PeerSelector, "label selector of the peer pods instead of the workload's own (OPENSHIFT_HA_PEER_SELECTOR)", "peer-selector")
	fs.Var(&metrics, "metrics-address", "metrics/health listen address; default :63000+offset; empty: off (OPENSHIFT_HA_METRICS_ADDRESS)")
	str(&r.ServiceAccount, "service account of the pods", "service-account")
	str(&r.Image, "container image", "image")
	str(&r.Namespace, "namespace of the objects; default: none (kubectl apply -n decides)", "namespace", "n")
	kind = string(r.Kind)
	str(&kind, "workload: deployment, daemonset or deploymentconfig", "kind")
	output = string(FormatYAML)
	str(&output, "output format: yaml or json", "output", "o")
	fs.BoolVar(&inv.Create, "create", false, "accepted for compatibility with oc adm ipfailover; this command only prints")

	// NAME may come before, between or after the flags.
	var names []string
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(out, Usage)
			fmt.Fprint(out, fs.FlagUsages())
			fmt.Fprint(out, "  -h, --help   print this help\n\nexample:\n  ipfailover manifests ipf-ha --virtual-ips 192.0.2.100-102 --replicas 2 --selector ha=true | kubectl apply -f -\n")
			return inv, err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
			var all []string
			fs.VisitAll(func(f *pflag.Flag) { all = append(all, f.Name) })
			name, _, _ = strings.Cut(name, "=")
			if s := cli.Suggest(name, all); s != "" {
				msg += "; did you mean --" + s + "?"
			}
		}
		fmt.Fprintf(out, "ipfailover manifests: %s\nRun 'ipfailover manifests --help' for usage.\n", msg)
		return inv, ErrUsage
	}
	names = fs.Args()
	switch len(names) {
	case 0:
	case 1:
		r.Name = names[0]
	default:
		fmt.Fprintf(out, "ipfailover manifests: one NAME expected, got %q\n", names)
		return inv, ErrUsage
	}
	r.Kind = Kind(kind)
	r.MetricsAddress = metrics.v
	inv.Format = Format(output)
	return inv, nil
}

// Run builds and encodes an invocation. It returns the encoded objects, the
// warnings and notes for stderr, and an *env.InvalidError listing every
// problem when the input is invalid (then out is nil).
func Run(inv Invocation) (out []byte, warnings, notes []string, err error) {
	var ps problems
	if inv.Format != FormatYAML && inv.Format != FormatJSON {
		ps.add("--output", string(inv.Format), "must be yaml or json")
	}
	res, err := Build(inv.Request)
	var invalid *env.InvalidError
	if errors.As(err, &invalid) {
		ps = append(ps, invalid.Problems...)
	} else if err != nil {
		return nil, nil, nil, err
	}
	if len(ps) > 0 {
		return nil, nil, nil, &env.InvalidError{Problems: ps}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, res.Objects, inv.Format); err != nil {
		return nil, nil, nil, err
	}
	notes = res.Notes
	if inv.Create {
		notes = append(notes, "--create is ignored: this command only prints; apply the output with 'kubectl apply -f -' or 'oc apply -f -'")
	}
	return buf.Bytes(), res.Warnings, notes, nil
}
