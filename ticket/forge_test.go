package ticket_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// forgeries returns every ticket one can sign with the bytes of the files in
// dir — what a shard pod holds — for each claim set and audience a verifier
// might accept: HS256 with the file as the secret (the old symmetric keys),
// and EdDSA or ES256 when a file holds a private key.
func forgeries(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	claims := []jwt.MapClaims{}
	for _, aud := range []any{nil, "player", []string{"player"}, []string{"shard.drain", "shard.read", "hall.ops"}} {
		for _, role := range []string{"", "player", "service"} {
			c := jwt.MapClaims{"sub": "mallory", "sid": "s", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
			if aud != nil {
				c["aud"] = aud
			}
			if role != "" {
				c["role"] = role
			}
			claims = append(claims, c)
		}
	}
	out := map[string]string{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		kids := []string{e.Name(), strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))}
		var methods []jwt.SigningMethod
		var keys []any
		methods, keys = append(methods, jwt.SigningMethodHS256), append(keys, []byte(strings.TrimSpace(string(b))))
		if blk, _ := pem.Decode(b); blk != nil {
			if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				switch k := k.(type) {
				case ed25519.PrivateKey:
					methods, keys = append(methods, jwt.SigningMethodEdDSA), append(keys, crypto.Signer(k))
				case *ecdsa.PrivateKey:
					methods, keys = append(methods, jwt.SigningMethodES256), append(keys, k)
				}
			}
		}
		for i, m := range methods {
			for _, kid := range kids {
				for j, c := range claims {
					tok := jwt.NewWithClaims(m, c)
					tok.Header["kid"] = kid
					s, err := tok.SignedString(keys[i])
					if err != nil {
						t.Fatal(err)
					}
					out[e.Name()+"/"+m.Alg()+"/kid="+kid+"/"+string(rune('a'+j))] = s
				}
			}
		}
	}
	return out
}
