// Package kapitest runs a real kube-apiserver (with its etcd) on loopback
// for tests: no kubelet, no controller-manager, just the API, RBAC and
// storage, so that tests exercise client-go against the server the agent
// meets in a cluster. It owns the PKI (generated in Go), the token users,
// the processes' lifetime (stopped in t.Cleanup) and the skip when the
// binaries are missing.
//
// The binaries come from hack/kapi/build.sh (make kapi) into
// $IPFAILOVER_KAPI_DIR, default /var/cache/ipfailover-kapi.
package kapitest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// DefaultDir is where hack/kapi/build.sh puts the binaries unless
// IPFAILOVER_KAPI_DIR says otherwise.
const DefaultDir = "/var/cache/ipfailover-kapi"

// RestrictedUser is the name of the token user without any RBAC binding.
const RestrictedUser = "restricted"

// Dir returns the directory holding kube-apiserver and etcd, or why they
// are not usable.
func Dir() (string, error) {
	dir := os.Getenv("IPFAILOVER_KAPI_DIR")
	if dir == "" {
		dir = DefaultDir
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("no %s in %s: run `make kapi` (hack/kapi/build.sh; several minutes, once per machine) or set IPFAILOVER_KAPI_DIR", b, dir)
		}
	}
	return dir, nil
}

// Options configure Start and Launch.
type Options struct {
	// Address the API server and etcd listen on; default 127.0.0.1. It is
	// also in the serving certificate, so a server started in a network
	// namespace can be reached from others.
	Address netip.Addr
	// ExtraSANs are more IP addresses for the serving certificate.
	ExtraSANs []netip.Addr
	// Netns is a named network namespace (ip netns) that the server has
	// to itself: etcd and kube-apiserver run in it (through `ip netns
	// exec`), on the fixed ports 2379, 2380 and 6443, since a free port
	// cannot be probed from this process's namespace. Address must be an
	// address of that namespace, and Dial is needed to reach it from here.
	// End-to-end labs use it to put the API server on the lab's bridge.
	Netns string
	// Dial, when set, makes every connection of the readiness wait and of
	// Admin and Restricted: for a server in a network namespace this
	// process cannot route to (Netns).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Fixed ports of a server in its own network namespace (Options.Netns).
const (
	NetnsAPIPort      = 6443
	netnsEtcdPort     = 2379
	netnsEtcdPeerPort = 2380
)

// Server is a running etcd and kube-apiserver.
type Server struct {
	// Admin is a config for a system:masters user.
	Admin *rest.Config
	// Restricted is a config for RestrictedUser: authenticated, with no
	// RBAC binding beyond what every authenticated user gets.
	Restricted *rest.Config
	// Kubeconfig is a file with both users (contexts "admin" and
	// "restricted", admin current), for kubectl while debugging.
	Kubeconfig string

	dir, bin     string
	netns        string
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	addr         netip.Addr
	port         int
	adminToken   string
	apiserver    *proc
	apiserverLog string
	etcd         *proc
	etcdURL      string
}

// Start launches a server for a test in t.TempDir, stops it in
// t.Cleanup (with the tail of kube-apiserver's log when the test failed)
// and skips the test when the binaries are missing.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Dir()
	if err != nil {
		t.Skipf("kube-apiserver tests skipped: %v", err)
	}
	s, err := launch(bin, t.TempDir(), o)
	if s != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("kube-apiserver log (tail):\n%s", s.LogTail(30))
			}
			s.Close()
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Launch starts etcd and kube-apiserver with their files in dir (which
// must exist) and waits until /readyz answers 200. Close stops them.
func Launch(dir string, o Options) (*Server, error) {
	bin, err := Dir()
	if err != nil {
		return nil, err
	}
	s, err := launch(bin, dir, o)
	if err != nil && s != nil {
		s.Close()
	}
	return s, err
}

// launch returns the Server even on error, for Close and its log.
func launch(bin, dir string, o Options) (*Server, error) {
	if !o.Address.IsValid() {
		o.Address = netip.MustParseAddr("127.0.0.1")
	}
	s := &Server{dir: dir, bin: bin, addr: o.Address, netns: o.Netns, dial: o.Dial}
	if err := s.pki(o); err != nil {
		return nil, fmt.Errorf("kapitest: PKI: %w", err)
	}
	if err := s.startEtcd(); err != nil {
		return s, err
	}
	port, err := s.freePort(NetnsAPIPort)
	if err != nil {
		return s, err
	}
	s.port = port
	if err := s.StartAPIServer(); err != nil {
		return s, err
	}
	ca := filepath.Join(s.dir, "ca.crt")
	rt, err := os.ReadFile(filepath.Join(s.dir, "restricted.token"))
	if err != nil {
		return s, err
	}
	s.Admin = &rest.Config{Host: s.URL(), BearerToken: s.adminToken, TLSClientConfig: rest.TLSClientConfig{CAFile: ca}, QPS: 100, Burst: 200, Dial: s.dial}
	s.Restricted = &rest.Config{Host: s.URL(), BearerToken: string(rt), TLSClientConfig: rest.TLSClientConfig{CAFile: ca}, Dial: s.dial}
	s.Kubeconfig = filepath.Join(s.dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: kapitest, cluster: {server: %q, certificate-authority: %q}}]
users:
- {name: admin, user: {token: %q}}
- {name: restricted, user: {token: %q}}
contexts:
- {name: admin, context: {cluster: kapitest, user: admin}}
- {name: restricted, context: {cluster: kapitest, user: restricted}}
current-context: admin
`, s.URL(), ca, s.adminToken, string(rt))
	return s, os.WriteFile(s.Kubeconfig, []byte(kc), 0o600)
}

// URL is the API server's address.
func (s *Server) URL() string {
	return "https://" + s.AddrPort().String()
}

// AddrPort is the API server's address and port, for
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
func (s *Server) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(s.addr, uint16(s.port))
}

// CAFile is the CA certificate that signed the serving certificate (a
// pod's ca.crt).
func (s *Server) CAFile() string {
	return filepath.Join(s.dir, "ca.crt")
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer: same
// port, certificates and etcd data) and waits for /readyz.
func (s *Server) StartAPIServer() error {
	if s.apiserver != nil {
		return errors.New("kapitest: kube-apiserver already runs")
	}
	p := func(name string) string { return filepath.Join(s.dir, name) }
	s.apiserverLog = p(fmt.Sprintf("kube-apiserver.%d.log", time.Now().UnixNano()))
	var err error
	s.apiserver, err = s.spawn(s.apiserverLog, filepath.Join(s.bin, "kube-apiserver"),
		"--etcd-servers="+s.etcdURL,
		"--bind-address="+s.addr.String(),
		"--advertise-address="+s.addr.String(),
		"--secure-port="+strconv.Itoa(s.port),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--token-auth-file="+p("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// No controller-manager creates the default service accounts.
		"--disable-admission-plugins=ServiceAccount",
		// A loopback advertise address is refused otherwise.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+p("certs"),
	)
	if err != nil {
		return err
	}
	return s.waitReady(90 * time.Second)
}

// StopAPIServer kills kube-apiserver, as a crash or a lost control-plane
// node would; etcd keeps running with the data.
func (s *Server) StopAPIServer() {
	s.apiserver.stop()
	s.apiserver = nil
}

// Close stops both processes. The files stay in the directory.
func (s *Server) Close() {
	s.apiserver.stop()
	s.apiserver = nil
	s.etcd.stop()
	s.etcd = nil
}

// LogTail returns the last n lines of kube-apiserver's log.
func (s *Server) LogTail(n int) string {
	if s.apiserverLog == "" {
		return ""
	}
	return tail(s.apiserverLog, n)
}

func (s *Server) startEtcd() error {
	client, err := s.freePort(netnsEtcdPort)
	if err != nil {
		return err
	}
	peer, err := s.freePort(netnsEtcdPeerPort)
	if err != nil {
		return err
	}
	host := s.addr.String()
	if s.addr.Is6() {
		host = "[" + host + "]"
	}
	s.etcdURL = fmt.Sprintf("http://%s:%d", host, client)
	peerURL := fmt.Sprintf("http://%s:%d", host, peer)
	s.etcd, err = s.spawn(filepath.Join(s.dir, "etcd.log"), filepath.Join(s.bin, "etcd"),
		"--name=kapitest", "--data-dir="+filepath.Join(s.dir, "etcd"),
		"--listen-client-urls="+s.etcdURL, "--advertise-client-urls="+s.etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kapitest="+peerURL,
		// A test's data need not survive a power cut; fsync would slow
		// every write and disturb timing-sensitive tests on the machine.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	return err
}

// proc is a started server process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
}

// spawn starts a process with its output in logFile, in the server's
// network namespace if it has one; it dies with the process that started
// it (Pdeathsig, which survives the exec of `ip netns exec`).
func (s *Server) spawn(logFile, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	if s.netns != "" {
		// ip execs the server in place: the PID stays the server's, so
		// stop kills the server itself.
		cmd = exec.Command("ip", append([]string{"netns", "exec", s.netns, bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kapitest: start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop kills the process and returns once it exited. A nil proc is a
// no-op. SIGKILL, not SIGTERM: kube-apiserver's graceful shutdown waits
// for open watches, and nothing here needs to survive.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (s *Server) waitReady(limit time.Duration) error {
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(s.dir, "ca.crt"))
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: s.dial}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL()+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.adminToken)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.apiserver.done:
			return fmt.Errorf("kapitest: kube-apiserver exited:\n%s\netcd:\n%s", s.LogTail(30), tail(filepath.Join(s.dir, "etcd.log"), 10))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("kapitest: kube-apiserver not ready after %s:\n%s", limit, s.LogTail(30))
}

// pki writes the CA, the serving certificate, the service-account key
// pair and the token file.
func (s *Server) pki(o Options) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kapitest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1"), o.Address.AsSlice()}
	for _, a := range o.ExtraSANs {
		ips = append(ips, a.AsSlice())
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: ips,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	s.adminToken = randomToken()
	restricted := randomToken()
	files := map[string][]byte{
		"ca.crt":           pemBlock("CERTIFICATE", caDER),
		"apiserver.crt":    pemBlock("CERTIFICATE", srvDER),
		"apiserver.key":    ecKeyPEM(srvKey),
		"sa.key":           ecKeyPEM(saKey),
		"sa.pub":           pubPEM(&saKey.PublicKey),
		"restricted.token": []byte(restricted),
		// token,user,uid[,"group1,group2"]
		"tokens.csv": fmt.Appendf(nil, "%s,admin,admin-uid,system:masters\n%s,%s,%s-uid\n",
			s.adminToken, restricted, RestrictedUser, RestrictedUser),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func ecKeyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func pubPEM(k *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return pemBlock("PUBLIC KEY", der)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a port nothing listens on at the moment, or fixed in
// a network namespace of the server's own (Options.Netns). Another
// process could take it before the server binds it; on loopback with
// kernel-chosen ports that has not been seen.
func (s *Server) freePort(fixed int) (int, error) {
	if s.netns != "" {
		return fixed, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(s.addr.String(), "0"))
	if err != nil {
		return 0, fmt.Errorf("kapitest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
