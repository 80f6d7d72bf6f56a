// Package testutil holds helpers shared by this module's tests.
package testutil

import (
	"context"
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test after timeout with
// the last error cond reported. It is the bounded wait-until the tests
// synchronise with; nothing waits on a fixed sleep.
func Eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not true after %s; last error: %v", what, timeout, err)
		case <-tick.C:
		}
	}
}
