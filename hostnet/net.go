package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// socketTimeout bounds every netlink request, so a wedged kernel or a
// namespace being torn down cannot hang the agent.
const socketTimeout = 10 * time.Second

// dumpAttempts bounds the retries of a dump the kernel marks as interrupted
// (the addresses or routes changed while it was read, so it may be
// inconsistent). Changes are rare and short, so a few attempts suffice.
const dumpAttempts = 5

// Net reads and changes one network namespace over rtnetlink. It is safe
// for concurrent use; Close releases its socket.
type Net struct {
	h *netlink.Handle
}

// New returns a Net for the calling process's network namespace: the host's,
// since the agent runs in a host-network pod.
func New() (*Net, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	return newNet(h)
}

// NewAt returns a Net for the network namespace at nsPath, e.g.
// /run/netns/NAME as created by "ip netns add NAME". Only the socket is
// created inside the namespace; the calling thread stays where it is.
func NewAt(nsPath string) (*Net, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	// The socket keeps the namespace alive; the handle is not needed after.
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket in %s: %w", nsPath, err)
	}
	return newNet(h)
}

func newNet(h *netlink.Handle) (*Net, error) {
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("set netlink socket timeout: %w", err)
	}
	return &Net{h: h}, nil
}

// Close releases the netlink socket.
func (n *Net) Close() {
	n.h.Close()
}

// dump runs a netlink dump again while the kernel reports it interrupted.
func dump[T any](what string, f func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpAttempts {
		var v []T
		if v, err = f(); err == nil {
			return v, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil, fmt.Errorf("%s: the kernel's state kept changing during %d attempts: %w", what, dumpAttempts, err)
}

// read takes a snapshot of every interface with its addresses and, when
// routes is true, of the IPv4 and IPv6 routes of every table.
func (n *Net) read(routes bool) (snapshot, error) {
	links, err := dump("list interfaces", n.h.LinkList)
	if err != nil {
		return snapshot{}, err
	}
	addrs, err := dump("list addresses", func() ([]netlink.Addr, error) {
		return n.h.AddrList(nil, netlink.FAMILY_ALL)
	})
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{links: make([]iface, 0, len(links))}
	pos := make(map[int]int, len(links))
	for _, l := range links {
		pos[l.Attrs().Index] = len(s.links)
		s.links = append(s.links, ifaceOf(l))
	}
	for _, a := range addrs {
		i, ok := pos[a.LinkIndex]
		if !ok {
			continue // the interface appeared after the link dump
		}
		if ia, ok := ifAddrOf(a); ok {
			s.links[i].addrs = append(s.links[i].addrs, ia)
		}
	}
	if !routes {
		return s, nil
	}
	// Table RT_TABLE_UNSPEC with RT_FILTER_TABLE means every table; without
	// the filter the library keeps only main.
	all := &netlink.Route{Table: unix.RT_TABLE_UNSPEC}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := dump("list routes", func() ([]netlink.Route, error) {
			return n.h.RouteListFiltered(fam, all, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return snapshot{}, err
		}
		for _, r := range rs {
			s.routes = append(s.routes, routeOf(r, fam))
		}
	}
	return s, nil
}

// readLink reads one interface and its addresses.
func (n *Net) readLink(ifname string) (iface, error) {
	_, l, err := n.readLinkRaw(ifname)
	return l, err
}

// readLinkRaw is readLink that also returns the netlink link, which
// deleting an address needs.
func (n *Net) readLinkRaw(ifname string) (netlink.Link, iface, error) {
	if err := checkIfName(ifname); err != nil {
		return nil, iface{}, err
	}
	link, err := n.h.LinkByName(ifname)
	if err != nil {
		if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
			return nil, iface{}, fmt.Errorf("interface %s does not exist: %w", ifname, errNoSuchInterface)
		}
		return nil, iface{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	addrs, err := dump("list addresses of "+ifname, func() ([]netlink.Addr, error) {
		return n.h.AddrList(link, netlink.FAMILY_ALL)
	})
	if err != nil {
		return nil, iface{}, err
	}
	l := ifaceOf(link)
	for _, a := range addrs {
		if ia, ok := ifAddrOf(a); ok {
			l.addrs = append(l.addrs, ia)
		}
	}
	return link, l, nil
}

// errNoSuchInterface marks a missing interface, which WaitForInterface
// waits for rather than reports.
var errNoSuchInterface = errors.New("no such network interface")

// delAddr deletes one address, matched by address and prefix length.
func (n *Net) delAddr(link netlink.Link, p netip.Prefix) error {
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
	return n.h.AddrDel(link, a)
}

func ifaceOf(l netlink.Link) iface {
	a := l.Attrs()
	return iface{
		index:    a.Index,
		name:     a.Name,
		up:       a.Flags&net.FlagUp != 0,
		loopback: a.Flags&net.FlagLoopback != 0,
	}
}

func ifAddrOf(a netlink.Addr) (ifAddr, bool) {
	if a.IPNet == nil {
		return ifAddr{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return ifAddr{}, false
	}
	bits, _ := a.Mask.Size()
	p := netip.PrefixFrom(ip.Unmap(), bits)
	if !p.IsValid() {
		return ifAddr{}, false
	}
	return ifAddr{prefix: p, scope: a.Scope, flags: a.Flags}, true
}

func routeOf(r netlink.Route, fam int) route {
	out := route{table: r.Table, linkIndex: r.LinkIndex, priority: r.Priority, typ: r.Type}
	gw := r.Gw
	if out.linkIndex == 0 && len(r.MultiPath) > 0 {
		out.linkIndex, gw = r.MultiPath[0].LinkIndex, r.MultiPath[0].Gw
	}
	if a, ok := netip.AddrFromSlice(gw); ok {
		out.gw = a.Unmap()
	}
	if r.Dst != nil {
		if a, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			bits, _ := r.Dst.Mask.Size()
			out.dst = netip.PrefixFrom(a.Unmap(), bits)
		}
	} else if fam == netlink.FAMILY_V4 {
		out.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	} else {
		out.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return out
}
