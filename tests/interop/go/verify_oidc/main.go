// Verifies a JWT with go-oidc (Debian's golang-github-coreos-go-oidc-dev, built in GOPATH mode)
// through the issuer's OpenID discovery document.
//
//	verify_oidc ISSUER AUDIENCE < token
//
// The token comes on standard input (never in argv). Prints one JSON line: {"sub": ...} and
// exits 0 when go-oidc verifies it (signature against the served JWKS, iss, aud, exp), or
// {"error": ...} and exits 1.
package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"

	oidc "github.com/coreos/go-oidc"
)

func fail(err error) {
	json.NewEncoder(os.Stdout).Encode(map[string]string{"error": err.Error()})
	os.Exit(1)
}

func main() {
	issuer, audience := os.Args[1], os.Args[2]
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		fail(err)
	}
	token, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, strings.TrimSpace(string(raw)))
	if err != nil {
		fail(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"sub": token.Subject})
}
