package lab

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// service is the per-node TCP responder: it accepts on every address of the
// node's namespace (so also on VIPs the node holds) and writes the node name
// followed by a newline, then closes the connection.
type service struct {
	ln   net.Listener
	name string
	wg   sync.WaitGroup
}

// startService listens on port in namespace ns and answers with name.
func startService(ns, name string, port int) (*service, error) {
	var ln net.Listener
	err := inNetns(ns, func() error {
		var err error
		// "tcp" on the wildcard address is dual-stack (IPV6_V6ONLY off).
		ln, err = net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start service for %s on port %d: %w", name, port, err)
	}
	s := &service{ln: ln, name: name}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *service) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte(s.name + "\n"))
		_ = c.Close()
	}
}

// close stops accepting and waits for the accept loop to end.
func (s *service) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}
