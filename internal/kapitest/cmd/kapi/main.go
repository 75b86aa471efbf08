// Command kapi runs the test API server (etcd and kube-apiserver, see
// package kapitest) until interrupted, for a lab or for poking at it with
// kubectl:
//
//	go run ./internal/kapitest/cmd/kapi -dir /tmp/kapi [-address 10.200.0.1] [-san 10.200.0.2]
//
// It prints the kubeconfig's path (contexts "admin" and "restricted") once
// /readyz answers. The binaries come from `make kapi`.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipfailover/ipfailover/internal/kapitest"
)

func main() {
	dir := flag.String("dir", "", "directory for certificates, etcd data and logs (created; default: a new temporary one)")
	address := flag.String("address", "127.0.0.1", "address kube-apiserver and etcd listen on")
	var sans []netip.Addr
	flag.Func("san", "another IP address for the serving certificate (repeatable)", func(s string) error {
		a, err := netip.ParseAddr(s)
		sans = append(sans, a)
		return err
	})
	flag.Parse()
	if err := run(*dir, *address, sans); err != nil {
		fmt.Fprintln(os.Stderr, "kapi:", err)
		os.Exit(1)
	}
}

func run(dir, address string, sans []netip.Addr) error {
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return fmt.Errorf("-address: %w", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kapi-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s, err := kapitest.Launch(dir, kapitest.Options{Address: addr, ExtraSANs: sans})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("KUBECONFIG=%s\n", s.Kubeconfig)
	<-sig
	return nil
}
