package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// RequiredResources are the kinds the operator's watches need served. The
// Agones one comes last: its absence has its own message (CheckAgonesCRD).
var RequiredResources = []schema.GroupVersionResource{
	gamehallv1.GroupVersion.WithResource("regions"),
	gamehallv1.GroupVersion.WithResource("roomshards"),
	gamehallv1.GroupVersion.WithResource("halls"),
	agonesv1.GroupVersion.WithResource("gameservers"),
}

// CRDWaitOptions bound WaitForCRDs.
type CRDWaitOptions struct {
	Timeout  time.Duration // give up after this long (0: one look)
	Interval time.Duration // between looks (0: 500 ms)
	LogEvery time.Duration // a progress line at most this often (0: 5 s)
}

// WaitForCRDs waits until the API server serves every resource in want.
// `make deploy` applies the CRDs and the operator together, so the operator
// may start before the API server serves its kinds; controller-runtime would
// then fail the field indexes with "no matches for kind". Asking discovery
// (not the manager's REST mapper, which remembers what it looked up) each
// time sees a CRD the moment it is served. On timeout the error says what
// is missing and how to install it.
func WaitForCRDs(ctx context.Context, cfg *rest.Config, want []schema.GroupVersionResource, opts CRDWaitOptions, log logr.Logger) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = 5 * time.Second
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	var lastLog time.Time
	for {
		missing, err := missingResources(dc, want)
		if err == nil && len(missing) == 0 {
			if !lastLog.IsZero() {
				log.Info("the CRDs are served", "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return nil
		}
		if !time.Now().Before(deadline) {
			return crdError(missing, err, opts.Timeout)
		}
		if lastLog.IsZero() || time.Since(lastLog) >= opts.LogEvery {
			kv := []any{"missing", names(missing), "waited", time.Since(start).Round(time.Second).String(), "timeout", opts.Timeout.String()}
			if err != nil {
				kv = append(kv, "error", err.Error())
			}
			log.Info("waiting for the API server to serve the CRDs", kv...)
			lastLog = time.Now()
		}
		t := time.NewTimer(min(opts.Interval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for CRDs %s: %w", strings.Join(names(missing), ", "), ctx.Err())
		case <-t.C:
		}
	}
}

// missingResources asks discovery, one request per group version, which
// of want are not served. A group version the server does not know is
// missing as a whole; other errors are returned (and retried).
func missingResources(dc discovery.DiscoveryInterface, want []schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	served := map[schema.GroupVersionResource]bool{}
	asked := map[schema.GroupVersion]bool{}
	var errs []error
	for _, r := range want {
		gv := r.GroupVersion()
		if asked[gv] {
			continue
		}
		asked[gv] = true
		list, err := dc.ServerResourcesForGroupVersion(gv.String())
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("discovering %s: %w", gv, err))
			continue
		}
		for _, res := range list.APIResources {
			served[gv.WithResource(res.Name)] = true
		}
	}
	var missing []schema.GroupVersionResource
	for _, r := range want {
		if !served[r] {
			missing = append(missing, r)
		}
	}
	return missing, errors.Join(errs...)
}

func crdError(missing []schema.GroupVersionResource, lookErr error, waited time.Duration) error {
	if len(missing) == 0 {
		return fmt.Errorf("asking the API server which CRDs it serves (for %s): %w", waited, lookErr)
	}
	var own []string
	agones := false
	for _, r := range missing {
		if r.Group == agonesv1.GroupVersion.Group {
			agones = true
		} else {
			own = append(own, r.Resource+"."+r.Group)
		}
	}
	var errs []error
	if len(own) > 0 {
		errs = append(errs, fmt.Errorf("the gamehall CRDs %s (version %s) are not served after %s: "+
			"install them with `make install` (or `kubectl apply -k config/crd`), then start the operator again",
			strings.Join(own, ", "), gamehallv1.GroupVersion.Version, waited))
	}
	if agones {
		errs = append(errs, errAgonesMissing)
	}
	return errors.Join(errs...)
}

func names(rs []schema.GroupVersionResource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Resource+"."+r.Group+"/"+r.Version)
	}
	slices.Sort(out)
	return out
}
