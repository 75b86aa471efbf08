package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfailover/ipfailover/statusapi"
)

// StatusPort is where an agent with the default OPENSHIFT_HA_VRRP_ID_OFFSET
// (10) serves /status: 63000 plus the offset.
const StatusPort = 63010

// Status fetches the agent's /status document from inside the node's
// network namespace, over its loopback: it works while the node's link is
// cut, which is exactly when the client could not ask.
func (n *Node) Status(ctx context.Context, port int, timeout time.Duration) (statusapi.Status, error) {
	var st statusapi.Status
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/status"
	code, body, err := n.HTTPGet(ctx, url, timeout)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", n.Name, err)
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of %s: HTTP %d: %.512s", n.Name, code, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("status of %s: decode: %w", n.Name, err)
	}
	return st, nil
}

// InstanceFor returns the instance of st that carries vip.
func InstanceFor(st statusapi.Status, vip string) (statusapi.Instance, bool) {
	for _, in := range st.Instances {
		for _, v := range in.VIPs {
			if v.Address == vip {
				return in, true
			}
		}
	}
	return statusapi.Instance{}, false
}
