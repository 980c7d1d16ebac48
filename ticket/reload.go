package ticket

import (
	"context"
	"time"

	"github.com/go-logr/logr"
)

// DefaultReload is how often halls and shards re-read their key directories.
// A key removed from a Secret is refused within the kubelet's Secret sync
// (about a minute) plus this.
const DefaultReload = 30 * time.Second

// ReloadEvery calls reload every interval until ctx ends, logging what
// changed and what failed (the old keys stay in force on failure).
func ReloadEvery(ctx context.Context, every time.Duration, log logr.Logger, reload func() (changed bool, err error), describe func() []any) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := reload()
		if err != nil {
			log.Error(err, "reloading ticket keys; keeping the old ones where they cannot be replaced")
		}
		if changed {
			log.Info("ticket keys changed", describe()...)
		}
	}
}
