package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// HallSettings are what a Region's shards inherit from the Hall that lists
// the Region (decision D1): a shard must share the presence store of the
// halls its players log in through, and verify tickets with their keys.
type HallSettings struct {
	// Hall names the Hall the settings come from (the first by name when
	// several Halls with the same settings list the Region).
	Hall string
	// RedisAddress is the Hall's presence.redisAddress ("" : in memory).
	RedisAddress string
	// VerificationKeySecret is the Hall's login.verificationKeySecretName:
	// public keys only (its signing Secret never reaches a shard).
	VerificationKeySecret string
}

// differences lists, for a person, how two Halls' settings differ.
func (s HallSettings) differences(o HallSettings) []string {
	var d []string
	if s.RedisAddress != o.RedisAddress {
		d = append(d, fmt.Sprintf("presence.redisAddress %q vs %q", s.RedisAddress, o.RedisAddress))
	}
	if s.VerificationKeySecret != o.VerificationKeySecret {
		d = append(d, fmt.Sprintf("login.verificationKeySecretName %q vs %q", s.VerificationKeySecret, o.VerificationKeySecret))
	}
	return d
}

func settingsOf(h *gamehallv1.Hall) HallSettings {
	return HallSettings{Hall: h.Name, RedisAddress: h.Spec.Presence.RedisAddress, VerificationKeySecret: h.Spec.Login.VerificationKeySecretName}
}

// HallSettingsError says why a Region has no settings to give its shards;
// Reason is the condition reason (NoHall or ConflictingHalls).
type HallSettingsError struct {
	Reason  string
	Message string
}

func (e *HallSettingsError) Error() string { return e.Message }

// reasonOf is the condition reason of a SettingsFor error.
func reasonOf(err error) string {
	if e, ok := errors.AsType[*HallSettingsError](err); ok {
		return e.Reason
	}
	return gamehallv1.ReasonNoHall
}

// SettingsFor resolves the settings region inherits from the Halls of its
// namespace: those whose regionSelector matches the Region's labels (an
// empty selector matches every Region). It fails when none does, or when
// two that do disagree; the message says what to change.
func SettingsFor(region *gamehallv1.Region, halls []gamehallv1.Hall) (HallSettings, error) {
	set := labels.Set(region.Labels)
	var selecting []HallSettings
	var others []string
	for i := range halls {
		h := &halls[i]
		if !h.DeletionTimestamp.IsZero() {
			continue
		}
		sel := labels.Everything()
		if h.Spec.RegionSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(h.Spec.RegionSelector)
			if err != nil {
				others = append(others, fmt.Sprintf("%s (invalid regionSelector)", h.Name))
				continue
			}
			sel = s
		}
		if sel.Matches(set) {
			selecting = append(selecting, settingsOf(h))
		} else {
			others = append(others, fmt.Sprintf("%s selects %s", h.Name, sel))
		}
	}
	slices.SortFunc(selecting, func(a, b HallSettings) int { return strings.Compare(a.Hall, b.Hall) })
	if len(selecting) == 0 {
		msg := fmt.Sprintf("no Hall in namespace %q lists this Region (labels %q), so its shards have no presence store or ticket keys to use: "+
			"create a Hall whose spec.regionSelector matches these labels, or label the Region to match a Hall", region.Namespace, set.String())
		if len(others) > 0 {
			slices.Sort(others)
			msg += " (" + strings.Join(others, "; ") + ")"
		}
		return HallSettings{}, &HallSettingsError{Reason: gamehallv1.ReasonNoHall, Message: msg}
	}
	first := selecting[0]
	for _, s := range selecting[1:] {
		if d := first.differences(s); len(d) > 0 {
			return HallSettings{}, &HallSettingsError{Reason: gamehallv1.ReasonConflictingHalls, Message: fmt.Sprintf(
				"Halls %q and %q both list this Region with different settings (%s), and its shards can use only one: "+
					"give both Halls the same settings, or narrow a regionSelector so that one Hall lists the Region",
				first.Hall, s.Hall, strings.Join(d, "; "))}
		}
	}
	return first, nil
}

// hallSettings resolves region's settings from the Halls of its namespace.
func hallSettings(ctx context.Context, c client.Reader, region *gamehallv1.Region) (HallSettings, error) {
	var halls gamehallv1.HallList
	if err := c.List(ctx, &halls, client.InNamespace(region.Namespace)); err != nil {
		return HallSettings{}, fmt.Errorf("list Halls: %w", err)
	}
	return SettingsFor(region, halls.Items)
}
