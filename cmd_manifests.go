package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ipfailover/ipfailover/env"
	"github.com/ipfailover/ipfailover/manifests"
)

const manifestsUsage = `usage: ipfailover manifests [NAME] [flags]

Print the objects that deploy one failover configuration (ServiceAccount,
scripts ConfigMap, Deployment/DaemonSet/DeploymentConfig), like
'oc adm ipfailover' did. Pipe to 'kubectl apply -f -'. NAME defaults to
ipfailover. Every value is checked exactly as the agent checks its
environment; on error nothing is printed on stdout and the exit code is 2.

flags:
`

// optionalString is a string flag that remembers whether it was set, for
// flags where "set to empty" differs from "not given".
type optionalString struct{ v *string }

func (o *optionalString) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}

func (o *optionalString) Set(s string) error { o.v = &s; return nil }

// cmdManifests is the `oc adm ipfailover` of this project.
func cmdManifests(args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	req := manifests.NewRequest()
	req.Image = manifests.ImageFor(version)
	req.ReadFile = os.ReadFile
	var kind, output string
	var metrics optionalString

	fs := flag.NewFlagSet("manifests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, manifestsUsage); fs.PrintDefaults() }
	str := func(p *string, def string, help string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, help)
		}
	}
	str(&req.Selector, "", "node selector key=value[,key=value] (also OPENSHIFT_HA_SELECTOR); default: every node", "selector")
	str(&req.Replicas, req.Replicas, "number of pods; match the number of selected nodes (OPENSHIFT_HA_REPLICA_COUNT)", "replicas", "r")
	str(&req.VirtualIPs, "", "VIPs to keep available, e.g. 192.0.2.10,192.0.2.20-25 (OPENSHIFT_HA_VIRTUAL_IPS; required)", "virtual-ips")
	str(&req.WatchPort, req.WatchPort, "TCP port checked on the node; 0 disables the check (OPENSHIFT_HA_MONITOR_PORT)", "watch-port", "w")
	str(&req.Interface, "", "interface for VRRP and the VIPs; default: the default route's (OPENSHIFT_HA_NETWORK_INTERFACE)", "interface", "i")
	str(&req.VRRPIDOffset, req.VRRPIDOffset, "group N gets VRID offset+N; distinct per configuration (OPENSHIFT_HA_VRRP_ID_OFFSET)", "vrrp-id-offset")
	str(&req.VirtualIPGroups, "", "number of VRRP groups the VIPs are split into (OPENSHIFT_HA_VIP_GROUPS)", "virtual-ip-groups")
	str(&req.IPTablesChain, req.IPTablesChain, "filter chain for the VRRP multicast accept rule; empty: no rule (OPENSHIFT_HA_IPTABLES_CHAIN)", "iptables-chain")
	str(&req.CheckScript, "", "check script: a local file (embedded in a ConfigMap) or an absolute path in the pod (OPENSHIFT_HA_CHECK_SCRIPT)", "check-script")
	str(&req.CheckInterval, req.CheckInterval, "seconds between checks (OPENSHIFT_HA_CHECK_INTERVAL)", "check-interval")
	str(&req.NotifyScript, "", "notify script: a local file (embedded in a ConfigMap) or an absolute path in the pod (OPENSHIFT_HA_NOTIFY_SCRIPT)", "notify-script")
	str(&req.Preemption, req.Preemption, "nopreempt, preempt_delay N or preempt N (OPENSHIFT_HA_PREEMPTION)", "preempt-strategy", "preemption-strategy")
	str(&req.AdvertInterval, req.AdvertInterval, "VRRP advert interval in seconds; fractions switch IPv4 to VRRPv3 (OPENSHIFT_HA_ADVERT_INTERVAL)", "advert-interval")
	fs.Var(&metrics, "metrics-address", "metrics/health listen address; default :63000+offset; empty: off (OPENSHIFT_HA_METRICS_ADDRESS)")
	str(&req.ServiceAccount, req.ServiceAccount, "service account of the pods", "service-account")
	str(&req.Image, req.Image, "container image", "image")
	str(&req.Namespace, "", "namespace of the objects; default: none (kubectl apply -n decides)", "namespace", "n")
	str(&kind, string(manifests.KindDeployment), "workload: deployment, daemonset or deploymentconfig", "kind")
	str(&output, string(manifests.FormatYAML), "output format: yaml or json", "output", "o")
	create := fs.Bool("create", false, "accepted for compatibility with oc adm ipfailover; this command only prints")

	// NAME may come before, between or after the flags.
	var names []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitInvalid
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		names, rest = append(names, rest[0]), rest[1:]
	}
	switch len(names) {
	case 0:
	case 1:
		req.Name = names[0]
	default:
		fmt.Fprintf(stderr, "ipfailover manifests: one NAME expected, got %q\n", names)
		return exitInvalid
	}
	req.Kind = manifests.Kind(kind)
	req.MetricsAddress = metrics.v

	var problems []env.Problem
	format := manifests.Format(output)
	if format != manifests.FormatYAML && format != manifests.FormatJSON {
		problems = append(problems, env.Problem{Variable: "--output", Value: output, Reason: "must be yaml or json"})
	}
	res, err := manifests.Build(req)
	var inv *env.InvalidError
	if errors.As(err, &inv) {
		problems = append(problems, inv.Problems...)
	} else if err != nil {
		return reportError(stderr, err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			line := "invalid configuration: " + p.String()
			if f := manifests.FlagFor(p.Variable); f != "" {
				line += " (set by " + f + ")"
			}
			fmt.Fprintln(stderr, line)
		}
		return exitInvalid
	}

	// Encode fully before writing, so a failure leaves stdout empty.
	var buf bytes.Buffer
	if err := manifests.Encode(&buf, res.Objects, format); err != nil {
		return reportError(stderr, err)
	}
	for _, w := range res.Warnings {
		log.Warn(w)
	}
	for _, n := range res.Notes {
		log.Info(n)
	}
	if *create {
		log.Info("--create is ignored: this command only prints; apply the output with 'kubectl apply -f -' or 'oc apply -f -'")
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return reportError(stderr, err)
	}
	return exitOK
}
