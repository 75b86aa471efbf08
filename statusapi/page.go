package statusapi

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// pageTmpl is the status page: plain server-rendered HTML that refreshes
// itself every 5 seconds, no JavaScript.
const pageTmpl = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>ipfailover {{.S.Name}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.MASTER{background:#d7f5d7}.BACKUP{background:#e6eefc}.FAULT{background:#fbd5d5}.INIT{background:#eee}
.bad{color:#b00;font-weight:bold}.ok{color:#070}
code{background:#f6f6f6;padding:0 .2em}
</style></head><body>
<h1>ipfailover <code>{{.S.Name}}</code></h1>
<p>Node {{.S.NodeAddress}} on interface <code>{{.S.Interface}}</code> · agent {{.S.Version}} · {{fmtTime .S.Time}}</p>
<table>
<tr><th>Liveness</th><td>{{if .S.Healthy}}<span class="ok">healthy</span>{{else}}<span class="bad">unhealthy</span>: {{.S.HealthProblem}}{{end}}</td></tr>
<tr><th>Readiness</th><td>{{if .S.Ready}}<span class="ok">ready</span>{{else}}<span class="bad">not ready</span>: {{.S.ReadyProblem}}{{end}}</td></tr>
<tr><th>keepalived</th><td>{{with .S.Keepalived}}{{if .Running}}running, PID {{.PID}}, since {{ago .StartedAt}}{{if not .Responsive}} · <span class="bad">not responding</span>{{end}}{{else}}<span class="bad">not running</span>{{end}}{{if .Problem}} · {{.Problem}}{{end}} · restarts {{.Restarts}}{{if not .LastDump.IsZero}} · last state dump {{ago .LastDump}}{{end}}{{end}}</td></tr>
<tr><th>Configuration</th><td>{{with .S.Config}}<code>{{.Path}}</code>{{if .Hash}} hash <code>{{.Hash}}</code>{{end}}{{if .LastResult}} · last render {{.LastResult}} {{ago .LastReload}}{{end}}{{if .LastError}} · <span class="bad">{{.LastError}}</span>{{end}}{{end}}</td></tr>
<tr><th>Health check</th><td>{{with .S.Check}}<code>{{.Command}}</code> every {{.IntervalSeconds}}s: {{if not .Ran}}not run yet{{else if .OK}}<span class="ok">passing</span>{{else}}<span class="bad">failing</span> ({{.Result}}){{end}}{{if .Ran}} · {{printf "%.3f" .DurationSeconds}}s, {{ago .LastRun}}{{end}}{{if .Output}} · output: <code>{{.Output}}</code>{{end}}{{else}}none configured{{end}}</td></tr>
<tr><th>Multicast rule</th><td>{{range .S.MulticastRules}}<div>{{.Family}} in chain <code>{{.Chain}}</code>: {{if .Present}}<span class="ok">present</span>{{else}}<span class="bad">missing</span>{{if .Error}} ({{.Error}}){{end}}{{end}}</div>{{else}}none managed{{end}}</td></tr>
</table>
<h2>VRRP instances</h2>
<table>
<tr><th>Instance</th><th>VRID</th><th>Family</th><th>State</th><th>Priority</th><th>VIPs</th><th>Last transition</th><th>Reason</th></tr>
{{range .S.Instances}}<tr>
<td><code>{{.Name}}</code></td><td>{{.VRID}}</td><td>{{.Family}}</td>
<td class="{{.State}}">{{.State}}{{if ne (stateName .StateValue) .State}} (reported as {{stateName .StateValue}}: keepalived not up){{end}}</td>
<td>{{.Priority}}{{if ne .Priority .BasePriority}} (configured {{.BasePriority}}){{end}}</td>
<td>{{range .VIPs}}<div>{{.Address}} {{if .Present}}<span class="ok">on interface</span>{{else}}absent{{end}}</div>{{end}}</td>
<td>{{if .LastTransition.IsZero}}none yet{{else}}{{fmtTime .LastTransition}} ({{ago .LastTransition}}){{end}}</td>
<td>{{.Reason}}</td>
</tr>{{end}}
</table>
{{with .Warnings}}<h2>Attention</h2><ul>{{range .}}<li class="bad">{{.}}</li>{{end}}</ul>{{end}}
<p><a href="/metrics">/metrics</a> · <a href="/status">/status</a> (JSON) · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></p>
</body></html>
`

// page is the parsed template; parsing a constant cannot fail at run time
// once the tests pass, so it is done once.
var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago":       func(t time.Time) string { return Ago(time.Now(), t) },
	"fmtTime":   func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000 MST") },
	"stateName": StateName,
}).Parse(pageTmpl))

// renderPage writes the HTML status page for s.
func renderPage(w io.Writer, s Status) error {
	return page.Execute(w, struct {
		S        Status
		Warnings []string
	}{s, Warnings(s)})
}

// Warnings lists the inconsistencies an operator should look at: a MASTER
// without its VIP, a VIP held while not MASTER, a missing multicast rule.
func Warnings(s Status) []string {
	var out []string
	for _, in := range s.Instances {
		for _, v := range in.VIPs {
			switch {
			case in.StateValue == StateMaster && !v.Present:
				out = append(out, fmt.Sprintf("%s is MASTER but VIP %s is not on %s", in.Name, v.Address, in.Interface))
			case in.StateValue != StateMaster && v.Present:
				out = append(out, fmt.Sprintf("VIP %s is on %s although %s is %s here", v.Address, in.Interface, in.Name, StateName(in.StateValue)))
			}
		}
	}
	for _, r := range s.MulticastRules {
		if !r.Present {
			out = append(out, fmt.Sprintf("the %s VRRP multicast accept rule is missing from chain %s: adverts may be dropped", r.Family, r.Chain))
		}
	}
	return out
}

// Ago renders how long before now t was, rounded for humans ("3s ago").
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s") + " ago"
	}
	return d.Round(time.Minute).String() + " ago"
}
