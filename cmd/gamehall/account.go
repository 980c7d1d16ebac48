package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
)

func init() {
	register(command{name: "account", short: "add or change an account in a login accounts file", run: runAccount})
}

func runAccount(args []string) int {
	fs := pflag.NewFlagSet("account", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: gamehall account add --accounts FILE NAME\n\nReads the password from stdin (first line) and writes a bcrypt hash for NAME\ninto FILE (created if missing; other accounts are kept).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	file := fs.String("accounts", "", "accounts file to change (required)")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) != 2 || rest[0] != "add" || *file == "" {
		fs.Usage()
		return 2
	}
	name := rest[1]
	if err := login.ValidAccountName(name); err != nil {
		fmt.Fprintln(os.Stderr, "gamehall account:", err)
		return 2
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintf(os.Stderr, "password for %s: ", name)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(os.Stderr, "gamehall account: reading the password from stdin:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if err := login.AddAccount(*file, name, password, *cost); err != nil {
		fmt.Fprintln(os.Stderr, "gamehall account:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "account %s written to %s\n", name, *file)
	return 0
}
