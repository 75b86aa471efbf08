package statusapi

import (
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// transitionStates are the label values of ipfailover_vrrp_transitions_total;
// all are exported from the start so rate() sees the first transition.
var transitionStates = []string{"master", "backup", "fault", "stop", "deleted"}

// vrrpInstance is the label naming the VRRP instance. It is not "instance",
// which Prometheus reserves for the scrape target and would rename to
// "exported_instance".
const vrrpInstance = "vrrp_instance"

// errorReasons are the label values of ipfailover_vrrp_receive_errors_total.
var errorReasons = []string{
	"packet_length", "advert_interval", "ip_ttl", "invalid_type",
	"address_list", "invalid_auth_type", "auth_type_mismatch", "auth_failure",
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// descs are the metrics computed from a Status at scrape time.
type descs struct {
	state, transitions, priority, lastTransition, rxLower  *prometheus.Desc
	vipPresent, vipMaster                                  *prometheus.Desc
	advertsRcvd, advertsSent, prioZeroRcvd, prioZeroSent   *prometheus.Desc
	rxErrors                                               *prometheus.Desc
	becameMaster, releasedMaster                           *prometheus.Desc
	checkUp, checkTimeouts                                 *prometheus.Desc
	kaUp, kaRestarts, reloads, hashInfo, ruleUp, buildInfo *prometheus.Desc
	scriptUsable                                           *prometheus.Desc
}

func newDescs() descs {
	iv := []string{vrrpInstance, "vrid"}
	return descs{
		state: desc("ipfailover_vrrp_state",
			"VRRP state of the instance on this node: 0 init (also: keepalived not up), 1 backup, 2 master, 3 fault.",
			vrrpInstance, "vrid", "interface", "family"),
		transitions: desc("ipfailover_vrrp_transitions_total",
			"State changes of the instance reported by keepalived, by new state.", vrrpInstance, "vrid", "state"),
		priority: desc("ipfailover_vrrp_priority",
			"Effective VRRP priority of the instance (configured priority adjusted by tracked scripts).", iv...),
		lastTransition: desc("ipfailover_vrrp_last_transition_timestamp_seconds",
			"Unix time of the instance's last state change seen by the agent.", iv...),
		rxLower: desc("ipfailover_vrrp_master_rx_lower_priority_total",
			"Adverts from another master with a lower priority received while master (two masters on the segment).", iv...),
		vipPresent: desc("ipfailover_vip_present",
			"1 if the kernel has the VIP on this node's interface, read over netlink at scrape time.", "vip", vrrpInstance, "interface"),
		vipMaster: desc("ipfailover_vip_master",
			"1 if this node is MASTER for the VIP's instance and keepalived is up.", "vip", vrrpInstance),
		advertsRcvd: desc("ipfailover_vrrp_adverts_received_total",
			"VRRP adverts received, from keepalived's statistics (restart from 0 with keepalived).", iv...),
		advertsSent: desc("ipfailover_vrrp_adverts_sent_total",
			"VRRP adverts sent, from keepalived's statistics (restart from 0 with keepalived).", iv...),
		prioZeroRcvd: desc("ipfailover_vrrp_priority_zero_received_total",
			"Priority-0 adverts (a master stepping down) received, from keepalived's statistics.", iv...),
		prioZeroSent: desc("ipfailover_vrrp_priority_zero_sent_total",
			"Priority-0 adverts (stepping down) sent, from keepalived's statistics.", iv...),
		rxErrors: desc("ipfailover_vrrp_receive_errors_total",
			"Received VRRP packets keepalived rejected, by reason (address_list: the peer's VIP list differs; auth_*: authentication), from keepalived's statistics.",
			vrrpInstance, "vrid", "reason"),
		becameMaster: desc("ipfailover_vrrp_become_master_total",
			"Times the instance became MASTER, from keepalived's statistics (restart from 0 with keepalived).", iv...),
		releasedMaster: desc("ipfailover_vrrp_release_master_total",
			"Times the instance left MASTER, from keepalived's statistics (restart from 0 with keepalived).", iv...),
		checkUp: desc("ipfailover_check_up",
			"1 if the last run of the health check (the agent runs the check keepalived tracks, on the same interval) succeeded."),
		checkTimeouts: desc("ipfailover_check_timeouts_total",
			"Health check runs killed because they outlived their timeout."),
		kaUp: desc("ipfailover_keepalived_up",
			"1 if keepalived runs and answers: its processes are not stopped and it wrote a state dump recently."),
		kaRestarts: desc("ipfailover_keepalived_restarts_total",
			"Times the agent started keepalived again after it had exited."),
		reloads: desc("ipfailover_config_reloads_total",
			"Configuration renders by result: ok (new config installed), failed (render or keepalived -t failed), unchanged.", "result"),
		hashInfo: desc("ipfailover_config_hash_info",
			"Always 1; the hash label is the sha256 prefix of the installed keepalived.conf, to compare nodes.", "hash"),
		ruleUp: desc("ipfailover_multicast_rule_present",
			"1 if the VRRP multicast accept rule is in place at the top of its chain.", "chain", "family"),
		scriptUsable: desc("ipfailover_script_usable",
			"1 if the configured user script's program exists and is executable; 0 while it cannot be run and is skipped.", "variable"),
		buildInfo: desc("ipfailover_build_info",
			"Always 1; labels carry the agent's version and Go version.", "version", "goversion"),
	}
}

// collector turns a Status into metrics at scrape time.
type collector struct {
	d      descs
	source func() Status
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.d.state, c.d.transitions, c.d.priority, c.d.lastTransition, c.d.rxLower,
		c.d.vipPresent, c.d.vipMaster, c.d.advertsRcvd, c.d.advertsSent, c.d.prioZeroRcvd,
		c.d.prioZeroSent, c.d.rxErrors, c.d.becameMaster, c.d.releasedMaster, c.d.checkUp, c.d.checkTimeouts, c.d.kaUp,
		c.d.kaRestarts, c.d.reloads, c.d.hashInfo, c.d.ruleUp, c.d.buildInfo, c.d.scriptUsable,
	} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.source()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	up := s.Keepalived.Up()
	for _, in := range s.Instances {
		vrid := strconv.Itoa(in.VRID)
		gauge(c.d.state, float64(in.StateValue), in.Name, vrid, in.Interface, in.Family)
		for _, st := range transitionStates {
			counter(c.d.transitions, in.Transitions[st], in.Name, vrid, st)
		}
		gauge(c.d.priority, float64(in.Priority), in.Name, vrid)
		if !in.LastTransition.IsZero() {
			gauge(c.d.lastTransition, float64(in.LastTransition.UnixNano())/1e9, in.Name, vrid)
		}
		counter(c.d.rxLower, in.RxLowerPriority, in.Name, vrid)
		master := in.StateValue == StateMaster
		for _, v := range in.VIPs {
			gauge(c.d.vipPresent, b2f(v.Present), v.Address, in.Name, in.Interface)
			gauge(c.d.vipMaster, b2f(master), v.Address, in.Name)
		}
		// keepalived's counters only while it is up: after it is gone they
		// describe a process that no longer exists.
		if k := in.KeepalivedCounter; k != nil && up {
			counter(c.d.advertsRcvd, k.AdvertsReceived, in.Name, vrid)
			counter(c.d.advertsSent, k.AdvertsSent, in.Name, vrid)
			counter(c.d.prioZeroRcvd, k.PriorityZeroRecv, in.Name, vrid)
			counter(c.d.prioZeroSent, k.PriorityZeroSent, in.Name, vrid)
			counter(c.d.becameMaster, k.BecomeMaster, in.Name, vrid)
			counter(c.d.releasedMaster, k.ReleaseMaster, in.Name, vrid)
			for i, v := range []uint64{k.PacketLengthErrors, k.AdvertIntervalErr, k.IPTTLErrors, k.InvalidTypeReceived,
				k.AddressListErrors, k.InvalidAuthType, k.AuthTypeMismatch, k.AuthFailures} {
				counter(c.d.rxErrors, v, in.Name, vrid, errorReasons[i])
			}
		}
	}
	if s.Check != nil {
		if s.Check.Ran {
			gauge(c.d.checkUp, b2f(s.Check.OK))
		}
		counter(c.d.checkTimeouts, s.Check.Timeouts)
	}
	gauge(c.d.kaUp, b2f(up))
	counter(c.d.kaRestarts, s.Keepalived.Restarts)
	for _, r := range []string{"ok", "failed", "unchanged"} {
		counter(c.d.reloads, s.Config.Reloads[r], r)
	}
	if s.Config.Hash != "" {
		gauge(c.d.hashInfo, 1, s.Config.Hash)
	}
	for _, r := range s.MulticastRules {
		gauge(c.d.ruleUp, b2f(r.Present), r.Chain, r.Family)
	}
	for _, sc := range s.Scripts {
		gauge(c.d.scriptUsable, b2f(sc.Problem == ""), sc.Variable)
	}
	gauge(c.d.buildInfo, 1, s.Version, runtime.Version())
}
