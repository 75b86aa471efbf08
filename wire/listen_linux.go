package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// readBufferSize bounds one read. The largest advert is an IPv6 header, a
// few extension headers and 255 IPv6 addresses: about 4.2 KB.
const readBufferSize = 8192

// socketBuffer is the receive buffer asked for (the kernel caps it at
// net.core.rmem_max): room for a few hundred queued adverts while the
// reader is descheduled. Beyond it the kernel drops and counts (Stats.Drops).
const socketBuffer = 1 << 20

// filter is the classic BPF program attached to the socket. The socket is
// SOCK_DGRAM, so the program sees the packet from the network header on, in
// both directions: it passes IPv4 with protocol 112 and IPv6 with next
// header 112 and drops everything else in the kernel, so the agent wakes up
// for VRRP only. IPv6 adverts behind extension headers are dropped (VRRP
// senders add none); the socket's ethertype is checked again in Read.
func filter() []bpf.Instruction {
	const accept = 0xffff // whole packet; longer ones are caught by MSG_TRUNC
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 1 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x40, SkipFalse: 3}, // not IPv4: 6
		/* 3 */ bpf.LoadAbsolute{Off: 9, Size: 1}, // IPv4 protocol
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: ProtocolVRRP, SkipFalse: 5}, // drop
		/* 5 */ bpf.RetConstant{Val: accept},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60, SkipFalse: 3}, // drop
		/* 7 */ bpf.LoadAbsolute{Off: 6, Size: 1}, // IPv6 next header
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: ProtocolVRRP, SkipFalse: 1}, // drop
		/* 9 */ bpf.RetConstant{Val: accept},
		/* 10 */ bpf.RetConstant{Val: 0},
	}
}

// Listener reads VRRP adverts from one interface through an AF_PACKET
// socket, that is below the host firewall: an iptables or nftables rule
// dropping VRRP in INPUT does not blind it. It sees adverts from others and
// our own keepalived's adverts leaving the interface (Advert.Outgoing). It
// sees what reaches the interface: multicast adverts of every node on the
// segment, and unicast adverts only when addressed to this node (or when
// the interface is promiscuous).
//
// Read is not safe for concurrent use; Stats, SetReadDeadline and Close may
// be called from any goroutine.
type Listener struct {
	f       *os.File
	rc      syscall.RawConn
	ifname  string
	ifindex int
	buf     []byte
	recvFn  func(fd uintptr) bool // l.recv, bound once so reads do not allocate

	// Results of the last recvfrom, written by recvFn.
	rsa    unix.RawSockaddrLinklayer
	rsaLen uint32
	n      int
	errno  syscall.Errno

	packets, adverts, rejected, drops atomic.Uint64
	closed                            atomic.Bool
}

// ListenerStats counts what the listener read.
type ListenerStats struct {
	// Packets passed the socket filter and were read.
	Packets uint64 `json:"packets"`
	// Adverts were decoded.
	Adverts uint64 `json:"adverts"`
	// Rejected failed to decode (ErrMalformed, ErrNotVRRP) or were longer
	// than the read buffer.
	Rejected uint64 `json:"rejected"`
	// Drops were dropped by the kernel because the socket's receive buffer
	// was full.
	Drops uint64 `json:"drops"`
}

var errTooLong = malformed("packet longer than the read buffer")

// Listen opens a listener on the named interface. It needs CAP_NET_RAW.
// The socket belongs to the network namespace of the calling thread.
//
// The socket is an ETH_P_ALL tap, the only kind that sees outgoing packets:
// while it is open the kernel clones every packet the host transmits on the
// interface once to run the filter on it, as it does for tcpdump.
func Listen(ifname string) (*Listener, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("listen for VRRP on %s: %w", ifname, err)
	}
	raw, err := bpf.Assemble(filter())
	if err != nil {
		return nil, fmt.Errorf("assemble VRRP socket filter: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	// Protocol 0: the socket receives nothing until bind names one, so no
	// packet is queued before the filter is in place.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen for VRRP on %s: packet socket: %w", ifname, err)
	}
	fail := func(what string, err error) (*Listener, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("listen for VRRP on %s: %s: %w", ifname, what, err)
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		return fail("attach filter", err)
	}
	// Best effort: a smaller buffer still works, it only drops sooner.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	// A non-blocking descriptor in an os.File goes to the runtime poller:
	// reads park the goroutine, deadlines work and Close wakes a reader.
	f := os.NewFile(uintptr(fd), "vrrp-listener:"+ifname)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("listen for VRRP on %s: %w", ifname, err)
	}
	l := &Listener{f: f, rc: rc, ifname: ifname, ifindex: ifi.Index, buf: make([]byte, readBufferSize)}
	l.recvFn = l.recv
	return l, nil
}

// Interface returns the name of the interface listened on.
func (l *Listener) Interface() string { return l.ifname }

// recv is the RawConn read callback: one recvfrom into l.buf, with the
// link-layer address (packet type, ethertype) into l.rsa. It calls the
// system call directly because unix.Recvfrom allocates the address.
// MSG_TRUNC makes the kernel return the packet's full length, so a packet
// longer than the buffer is recognised.
func (l *Listener) recv(fd uintptr) bool {
	for {
		l.rsaLen = unix.SizeofSockaddrLinklayer
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&l.buf[0])), uintptr(len(l.buf)), unix.MSG_TRUNC,
			uintptr(unsafe.Pointer(&l.rsa)), uintptr(unsafe.Pointer(&l.rsaLen)))
		switch e {
		case 0:
			l.n, l.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for the poller
		default:
			l.n, l.errno = 0, e
			return true
		}
	}
}

// Read blocks until the next packet that passed the filter and decodes it
// into a (reusing a.VIPs, see DecodeIP), setting a.Outgoing for packets
// this host sent. Errors wrapping ErrMalformed or ErrNotVRRP concern that
// packet only: read on. Other errors come from the socket: the deadline
// passed (os.ErrDeadlineExceeded), the listener was closed
// (os.ErrClosed), or the system call failed (ENETDOWN while the interface
// is down, for example).
func (l *Listener) Read(a *Advert) error {
	if err := l.rc.Read(l.recvFn); err != nil {
		if l.closed.Load() {
			// The raw connection reports the poller's own "use of closed
			// file"; os.ErrClosed is what callers can test for.
			err = os.ErrClosed
		}
		return fmt.Errorf("read VRRP on %s: %w", l.ifname, err)
	}
	if l.errno != 0 {
		return fmt.Errorf("read VRRP on %s: %w", l.ifname, os.NewSyscallError("recvfrom", l.errno))
	}
	l.packets.Add(1)
	if l.n > len(l.buf) {
		l.rejected.Add(1)
		return errTooLong
	}
	var err error
	switch l.rsa.Protocol {
	case htons(unix.ETH_P_IP), htons(unix.ETH_P_IPV6):
		err = DecodeIP(l.buf[:l.n], a)
	default:
		err = errEtherType
	}
	if err != nil {
		l.rejected.Add(1)
		return err
	}
	a.Outgoing = l.rsa.Pkttype == unix.PACKET_OUTGOING
	l.adverts.Add(1)
	return nil
}

// SetReadDeadline makes Read fail with os.ErrDeadlineExceeded once t has
// passed; the zero time means no deadline.
func (l *Listener) SetReadDeadline(t time.Time) error { return l.f.SetReadDeadline(t) }

// Run reads adverts and calls handle with each until ctx is done (it then
// returns ctx.Err()) or the socket fails. handle runs on Run's goroutine
// and must not keep the *Advert: it is reused (Table.Observe copies what it
// keeps). Packets that do not decode are skipped and counted in Stats;
// ENETDOWN (the interface went down; the socket stays bound to it and
// resumes when it comes back) is skipped too. An interface that is deleted
// takes the binding with it: the socket then hears nothing, so Listen again
// when the interface is re-created. Run leaves a read deadline in the past
// when ctx ends: call SetReadDeadline(time.Time{}) to read again.
func (l *Listener) Run(ctx context.Context, handle func(*Advert)) error {
	stop := context.AfterFunc(ctx, func() { _ = l.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var a Advert
	for {
		err := l.Read(&a)
		switch {
		case err == nil:
			handle(&a)
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrNotVRRP):
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, unix.ENETDOWN):
			// Reported once per down event; the next read blocks.
		default:
			return err
		}
	}
}

// Stats returns the listener's counters. It also reads the kernel's drop
// counter, which the kernel resets on every read, and adds it up.
func (l *Listener) Stats() (ListenerStats, error) {
	var st *unix.TpacketStats
	var serr error
	err := l.rc.Control(func(fd uintptr) {
		st, serr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err == nil {
		err = serr
	}
	if err == nil {
		l.drops.Add(uint64(st.Drops))
	}
	out := ListenerStats{Packets: l.packets.Load(), Adverts: l.adverts.Load(), Rejected: l.rejected.Load(), Drops: l.drops.Load()}
	if err != nil {
		return out, fmt.Errorf("packet socket statistics on %s: %w", l.ifname, err)
	}
	return out, nil
}

// Close closes the socket; a Read blocked in another goroutine returns
// an error wrapping os.ErrClosed.
func (l *Listener) Close() error {
	l.closed.Store(true)
	return l.f.Close()
}

// htons converts a 16-bit value to network byte order, as the packet
// socket API wants protocols.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
