package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/gamehall/gamehall/ticket"
)

func init() {
	register(command{name: "keys", short: "generate, activate and retire ticket keys (the Hall's signing and verification Secrets)", run: runKeys})
}

const keysHelp = `Usage:
  gamehall keys new      --dir DIR [--id ID]   a new Ed25519 key (active if it is the first)
  gamehall keys activate --dir DIR ID          sign with ID from now on
  gamehall keys retire   --dir DIR ID          remove ID: its tickets are refused
  gamehall keys ticket   --dir DIR --audience AUD[,AUD] [--account NAME] [--ttl D]
                                               print a service ticket signed with the
                                               active key (hall.ops: the /ops view;
                                               shard.read, shard.drain: a shard's
                                               internal port)

DIR/signing holds <id>.pem private keys and the file 'active': the Hall's
login.signingKeySecretName, mounted into hall pods only. DIR/verification
holds <id>.pem public keys: login.verificationKeySecretName, mounted into
hall pods and every shard. Each command prints the kubectl commands that
bring the Secrets up to date.

Rotation without a restart: 'new' (publishes the public key), apply the
verification Secret, wait until every pod has reloaded it (the kubelet's
Secret sync, about a minute, plus --key-reload, 30s), 'activate', apply the
signing Secret; once the old key's tickets have expired (--ticket-ttl),
'retire' the old key and apply both Secrets. A retired (or leaked) key is
refused everywhere within the Secret sync plus --key-reload.

Flags:
`

func runKeys(args []string) int {
	fs := pflag.NewFlagSet("keys", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, keysHelp+fs.FlagUsages()) }
	dir := fs.String("dir", "", "key directory (required)")
	id := fs.String("id", "", "new key's id (default: k<UTC date>-<time>)")
	signing := fs.String("signing-secret", "gamehall-ticket-signing", "the Hall's login.signingKeySecretName, for the printed commands")
	verification := fs.String("verification-secret", "gamehall-ticket-verification", "the Hall's login.verificationKeySecretName, for the printed commands")
	auds := fs.StringSlice("audience", nil, "ticket: what it may do (hall.ops, shard.read, shard.drain)")
	account := fs.String("account", "operator", "ticket: who it names")
	ttl := fs.Duration("ttl", time.Hour, "ticket: how long it is valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gamehall keys: "+format+"\n", a...)
		return 1
	}
	if fs.NArg() == 0 || *dir == "" {
		fs.Usage()
		return 2
	}
	k := keysCmd{files: ticket.KeyFiles{Dir: *dir}, signing: *signing, verification: *verification, out: os.Stdout, fail: fail}
	switch verb := fs.Arg(0); verb {
	case "new":
		return k.newKey(*id)
	case "activate", "retire":
		if fs.NArg() != 2 {
			return fail("%s takes one key id", verb)
		}
		if verb == "activate" {
			return k.activate(fs.Arg(1))
		}
		return k.retire(fs.Arg(1))
	case "ticket":
		return k.serviceTicket(*account, *auds, *ttl)
	default:
		return fail("unknown subcommand %q (new, activate, retire, ticket)", verb)
	}
}

// keysCmd is what every 'gamehall keys' subcommand works on: the key
// directory and the Secret names its printed kubectl commands use.
type keysCmd struct {
	files                 ticket.KeyFiles
	signing, verification string
	out                   io.Writer // what the commands print: tickets, kubectl commands
	fail                  func(format string, a ...any) int
}

// apply is the kubectl command that brings secret up to date from dir.
func (k keysCmd) apply(secret, dir string) string {
	return fmt.Sprintf("kubectl create secret generic %s --from-file=%s --dry-run=client -o yaml | kubectl apply -f -", secret, dir)
}

// newKey adds a key, active at once only if it is the first.
func (k keysCmd) newKey(kid string) int {
	if kid == "" {
		kid = ticket.NewKeyID(time.Now())
	}
	key, err := ticket.GenerateKey()
	if err != nil {
		return k.fail("%v", err)
	}
	_, _, err = ticket.ReadSigningDir(k.files.SigningDir())
	first := err != nil
	if err := k.files.Add(kid, key); err != nil {
		return k.fail("%v", err)
	}
	if first {
		if err := k.files.Activate(kid); err != nil {
			return k.fail("%v", err)
		}
		fmt.Fprintf(k.out, "key %s created and active. Create the Secrets:\n  kubectl create secret generic %s --from-file=%s\n  kubectl create secret generic %s --from-file=%s\n",
			kid, k.signing, k.files.SigningDir(), k.verification, k.files.VerificationDir())
		return 0
	}
	fmt.Fprintf(k.out, "key %s created, not active. Publish it for verification first:\n  %s\nthen, once every pod has it (about a minute plus --key-reload):\n  gamehall keys activate --dir %s %s\n",
		kid, k.apply(k.verification, k.files.VerificationDir()), k.files.Dir, kid)
	return 0
}

func (k keysCmd) activate(kid string) int {
	if err := k.files.Activate(kid); err != nil {
		return k.fail("%v", err)
	}
	fmt.Fprintf(k.out, "key %s is active. Apply the signing Secret:\n  %s\n", kid, k.apply(k.signing, k.files.SigningDir()))
	return 0
}

func (k keysCmd) retire(kid string) int {
	if err := k.files.Remove(kid); err != nil {
		return k.fail("%v", err)
	}
	fmt.Fprintf(k.out, "key %s removed. Apply both Secrets; its tickets are refused once pods reload:\n  %s\n  %s\n",
		kid, k.apply(k.verification, k.files.VerificationDir()), k.apply(k.signing, k.files.SigningDir()))
	return 0
}

// serviceTicket prints a service ticket for auds signed with the active key.
func (k keysCmd) serviceTicket(account string, auds []string, ttl time.Duration) int {
	keys, err := ticket.LoadKeyring(k.files.SigningDir(), k.files.VerificationDir())
	if err != nil {
		return k.fail("%v", err)
	}
	c := ticket.Service(account)
	for _, a := range auds {
		if !slices.Contains(ticket.ServiceAudiences, ticket.Audience(a)) {
			return k.fail("--audience %q: service tickets only (%v); players log in", a, ticket.ServiceAudiences)
		}
		c.Audience = append(c.Audience, ticket.Audience(a))
	}
	tok, err := keys.Sign(c, ttl)
	if err != nil {
		return k.fail("%v", err)
	}
	fmt.Fprintln(k.out, tok)
	return 0
}
