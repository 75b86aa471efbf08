package lab

// ServiceUp reports whether the node's name service (the TCP port the
// agent's default health check watches) is running.
func (n *Node) ServiceUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.svc != nil
}
