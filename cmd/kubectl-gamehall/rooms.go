package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// roomsDoc is the hall's rooms document (GET /v1/regions/NAME/rooms).
type roomsDoc struct {
	Region    string    `json:"region"`
	Version   uint64    `json:"version"`
	RoomCount int       `json:"roomCount"`
	Players   int       `json:"players"`
	Capacity  int       `json:"capacity"`
	Rooms     []roomDoc `json:"rooms"`
}

type roomDoc struct {
	Room     int    `json:"room"`
	Shard    string `json:"shard"`
	Players  int    `json:"players"`
	Capacity int    `json:"capacity"`
}

func (r roomDoc) full() bool { return r.Players >= r.Capacity }

func rooms(ctx context.Context, c *cluster, region string, o options, w io.Writer) error {
	hall, err := c.hallOf(ctx, region, o.hall)
	if err != nil {
		return err
	}
	tok, err := c.serviceTicket(ctx, hall)
	if err != nil {
		return err
	}
	body, err := c.hallGet(ctx, hall, "/v1/regions/"+region+"/rooms", tok)
	if err != nil {
		return err
	}
	if o.output == "json" {
		_, err := w.Write(append(body, '\n'))
		return err
	}
	var doc roomsDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("Hall %s answered something that is not a rooms document (%v): %.200q", hall.Name, err, body)
	}
	return writeRooms(w, doc, o.state, fmt.Sprintf("Hall %s/%s", hall.Namespace, hall.Name))
}

// writeRooms prints the room table, rooms in number order, and a summary
// line; state ("full", "open" or "") filters the rows, not the summary.
func writeRooms(w io.Writer, doc roomsDoc, state, source string) error {
	rs := slices.Clone(doc.Rooms)
	slices.SortFunc(rs, func(a, b roomDoc) int { return a.Room - b.Room })
	full := 0
	for _, r := range rs {
		if r.full() {
			full++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tSHARD\tPLAYERS\tCAPACITY\tFREE\tSTATE")
	for _, r := range rs {
		st := "Open"
		if r.full() {
			st = "Full"
		}
		if (state == "full" && !r.full()) || (state == "open" && r.full()) {
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\n", r.Room, r.Shard, r.Players, r.Capacity, max(0, r.Capacity-r.Players), st)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Region %s: %d rooms offered, %d full; %d players in %d seats (%s, version %d)\n",
		doc.Region, len(rs), full, doc.Players, doc.Capacity, source, doc.Version)
	return err
}
