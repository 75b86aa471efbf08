package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfailover/ipfailover/metrics"
)

// StatusPort is where an agent with the default OPENSHIFT_HA_VRRP_ID_OFFSET
// (10) serves /status: 63000 plus the offset.
const StatusPort = 63010

// Status fetches the agent's /status document from inside the node's
// network namespace, over its loopback: it works while the node's link is
// cut, which is exactly when the client could not ask.
func (n *Node) Status(ctx context.Context, port int, timeout time.Duration) (metrics.Status, error) {
	var st metrics.Status
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(n.NS, func() error {
				var d net.Dialer
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", n.Name, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return st, fmt.Errorf("status of %s: HTTP %d: %s", n.Name, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("status of %s: decode: %w", n.Name, err)
	}
	return st, nil
}

// InstanceFor returns the instance of st that carries vip.
func InstanceFor(st metrics.Status, vip string) (metrics.Instance, bool) {
	for _, in := range st.Instances {
		for _, v := range in.VIPs {
			if v.Address == vip {
				return in, true
			}
		}
	}
	return metrics.Instance{}, false
}
