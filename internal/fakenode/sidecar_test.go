package fakenode

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/gamehall/gamehall/gameserver/agonessdk"
)

// The sidecar's int64 decoder, on the counter update body as it arrives:
// whatever decodes re-encodes (as the gateway writes int64s) to the same value.
func FuzzCounterUpdateBody(f *testing.F) {
	for _, s := range []string{`{"count":"42"}`, `{"count":42,"capacity":"100"}`, `{"countDiff":"-1"}`, `{"count":null}`,
		`{"count":""}`, `{"count":"9223372036854775808"}`, `{"count":{}}`, `{"count":"1e3"}`, `{"count":"\"7\""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var req counterUpdate
		if json.Unmarshal([]byte(s), &req) != nil {
			return
		}
		for _, v := range []*agonessdk.Int64{req.Count, req.Capacity, req.CountDiff} {
			if v == nil {
				continue
			}
			var back agonessdk.Int64
			if err := json.Unmarshal([]byte(`"`+strconv.FormatInt(int64(*v), 10)+`"`), &back); err != nil || back != *v {
				t.Fatalf("%q: %d does not round-trip: %v %+v", s, *v, err, back)
			}
		}
	})
}
