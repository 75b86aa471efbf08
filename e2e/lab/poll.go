package lab

import (
	"context"
	"fmt"
	"time"
)

// Poll calls cond every interval until it returns nil, the timeout passes or
// ctx ends. On failure the error wraps cond's last error, so the caller sees
// why the condition never held rather than just "timeout".
func Poll(ctx context.Context, timeout, interval time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}
