package backoff

import (
	"testing"
	"time"
)

func TestExpAndJitter(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {7, time.Minute}, {100, time.Minute}} {
		if got := Exp(c.attempt, time.Second, time.Minute); got != c.want {
			t.Errorf("Exp(%d) = %v, want %v", c.attempt, got, c.want)
		}
		for range 100 {
			if j := Jitter(c.attempt, time.Second, time.Minute); j <= 0 || j > c.want {
				t.Fatalf("Jitter(%d) = %v, outside (0, %v]", c.attempt, j, c.want)
			}
		}
	}
}
