package presence

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A spray of distinct keys (none refilled yet) never grows the table past
// its cap.
func TestMemoryLimiterKeyCap(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	r := Rate{Burst: 5, Every: time.Hour}
	for i := range maxLimiterKeys + 5000 {
		if _, err := m.Take(context.Background(), fmt.Sprint("k", i), r); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			m.mu.Lock()
			n := len(m.lim.buckets) + len(m.lim.known)
			m.mu.Unlock()
			if n > maxLimiterKeys {
				t.Fatalf("%d keys after %d takes, cap %d", n, i+1, maxLimiterKeys)
			}
		}
	}
	m.mu.Lock()
	n := len(m.lim.buckets)
	m.mu.Unlock()
	if n > maxLimiterKeys || n == 0 {
		t.Fatalf("%d buckets, cap %d", n, maxLimiterKeys)
	}
}
