package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func top(ctx context.Context, c *cluster, o options, w io.Writer) error {
	var opts []client.ListOption
	where := "namespace " + c.namespace
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(c.namespace))
	} else {
		where = "any namespace"
	}
	var regions gamehallv1.RegionList
	if err := c.client.List(ctx, &regions, opts...); err != nil {
		return apiError(err, "listing Regions")
	}
	var shards gamehallv1.RoomShardList
	if err := c.client.List(ctx, &shards, opts...); err != nil {
		return apiError(err, "listing RoomShards")
	}
	if len(regions.Items) == 0 {
		_, err := fmt.Fprintf(w, "No Regions in %s (-A: every namespace; `kubectl apply -f config/samples/` creates some).\n", where)
		return err
	}
	return writeTop(w, regions.Items, shards.Items, o.allNamespaces)
}

// writeTop prints the Regions table, then the shards table, sorted by
// namespace, Region and shard index.
func writeTop(w io.Writer, regions []gamehallv1.Region, shards []gamehallv1.RoomShard, showNS bool) error {
	regions, shards = slices.Clone(regions), slices.Clone(shards)
	slices.SortFunc(regions, func(a, b gamehallv1.Region) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	slices.SortFunc(shards, func(a, b gamehallv1.RoomShard) int {
		if c := strings.Compare(a.Namespace+"/"+a.Spec.Region, b.Namespace+"/"+b.Spec.Region); c != 0 {
			return c
		}
		return int(a.Spec.Index - b.Spec.Index)
	})
	full := map[string]int32{}
	hashOf := map[string]string{}
	for _, r := range regions {
		hashOf[r.Namespace+"/"+r.Name] = r.Status.TemplateHash
	}
	for _, s := range shards {
		full[s.Namespace+"/"+s.Spec.Region] += s.Status.FullRooms
	}
	ns := func(namespace string) string {
		if showNS {
			return namespace + "\t"
		}
		return ""
	}
	nsHead := ""
	if showNS {
		nsHead = "NAMESPACE\t"
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, nsHead+"REGION\tSHARDS\tREADY\tUP-TO-DATE\tDRAINING\tPLAYERS\tCAPACITY\tOCCUPANCY\tFULL ROOMS\tHALL")
	for _, r := range regions {
		st := r.Status
		fmt.Fprintf(tw, "%s%s\t%d\t%d/%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", ns(r.Namespace), r.Name, st.Shards, st.ReadyShards, st.DesiredShards,
			st.UpdatedShards, st.DrainingShards, st.Players, st.Capacity, dash(st.Occupancy), full[r.Namespace+"/"+r.Name], dash(st.Hall))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(shards) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, nsHead+"SHARD\tREGION\tROOMS\tPLAYERS\tCAPACITY\tFULL\tSTATE\tDRAIN\tUP-TO-DATE")
	for _, s := range shards {
		st := s.Status
		drain := "-"
		if c := meta.FindStatusCondition(st.Conditions, gamehallv1.ConditionDraining); c != nil && c.Reason != gamehallv1.ReasonNotDraining {
			drain = c.Reason
		}
		upToDate := "yes"
		switch cur := hashOf[s.Namespace+"/"+s.Spec.Region]; {
		case cur == "" || st.TemplateHash == "":
			upToDate = "-"
		case st.TemplateHash != cur:
			upToDate = "no"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", ns(s.Namespace), s.Name, s.Spec.Region, dash(st.Rooms), st.Players, st.Capacity,
			st.FullRooms, dash(st.State), drain, upToDate)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
