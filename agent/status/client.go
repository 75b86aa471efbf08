package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/ipfailover/ipfailover/statusapi"
)

// maxDocument bounds the status document a client reads.
const maxDocument = 16 << 20

// Fetch reads the status document at url (see URL). It returns the body as
// served too, for --json.
func Fetch(ctx context.Context, url string) (statusapi.Status, []byte, error) {
	var st statusapi.Status
	code, status, body, err := get(ctx, url)
	if err != nil {
		return st, nil, err
	}
	if code != http.StatusOK {
		return st, nil, fmt.Errorf("%s answered %s", url, status)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, nil, fmt.Errorf("decode %s: %w", url, err)
	}
	return st, body, nil
}

// get fetches url (a bounded body) and returns the HTTP status with it.
func get(ctx context.Context, url string) (code int, status string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("query the agent at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return 0, "", nil, fmt.Errorf("read %s: %w", url, err)
	}
	return resp.StatusCode, resp.Status, body, nil
}

// URL turns a listen address into the URL of its /status endpoint: an
// unspecified or empty host means the agent listens on every address, so
// loopback is asked.
func URL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w; want HOST:PORT or :PORT", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/status", nil
}

// Degraded reports whether an agent that answered is not fully serving:
// unhealthy, not ready, an instance in FAULT, or a failing health check.
// `ipfailover status` exits 3 then.
func Degraded(st statusapi.Status) bool {
	if !st.Healthy || !st.Ready {
		return true
	}
	if st.Check != nil && st.Check.Ran && !st.Check.OK {
		return true
	}
	for _, in := range st.Instances {
		if in.State == "FAULT" {
			return true
		}
	}
	return false
}
