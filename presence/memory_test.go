package presence_test

import (
	"testing"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) presence.Store {
		m := presence.NewMemory()
		t.Cleanup(func() { m.Close() })
		return m
	})
}
