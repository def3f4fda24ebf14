// Package endpoint checks the base URL of a web API that the pipeline
// sends a secret to, such as the Heroku Platform API and its key, or
// Sentry's web API and its auth token.
//
// The secret may only travel over HTTPS; plain HTTP is accepted for
// loopback addresses, which is what tests use. The URL itself carries no
// credentials, query or fragment: the secret has a variable of its own.
package endpoint

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Check returns the base URL raw gives for the variable urlVar (urlVar's
// default when raw is blank), without a trailing slash, or an error that
// says what is wrong with it. secretVar names the variable of the secret
// sent there, for the messages.
func Check(urlVar settings.Var, raw string, secretVar settings.Var) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = urlVar.Default
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return "", fmt.Errorf("%s %q is not a URL such as %s", urlVar.Name, raw, urlVar.Default)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%s must not carry credentials, a query or a fragment: the credentials go in %s", urlVar.Name, secretVar.Name)
	case u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())):
		return "", fmt.Errorf("%s %s: %s may only travel over https (plain http only to localhost)", urlVar.Name, u.Redacted(), secretVar.Name)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
