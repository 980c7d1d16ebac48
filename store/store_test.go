package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gamehall/gamehall/store/pgtest"
	"github.com/gamehall/gamehall/store/storetest"
)

// pg is one real PostgreSQL server for the package's tests; each test gets
// databases of its own on it.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Launch(pgtest.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewDSN: func(t *testing.T) string { return pg.NewDatabase(t) },
		Exec: func(t *testing.T, dsn, q string) {
			c, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
	})
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewDSN: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "gamehall.db") },
		Exec: func(t *testing.T, dsn, q string) {
			db, err := sql.Open("sqlite", "file:"+dsn[len("sqlite:"):])
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
	})
}
