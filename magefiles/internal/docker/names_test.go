package docker

import "testing"

func TestShortIDAndHerokuAuth(t *testing.T) {
	if got := ShortID("sha256:0123456789abcdef0123"); got != "sha256:0123456789ab" {
		t.Errorf("ShortID = %q", got)
	}
	if got := ShortID("abc"); got != "abc" {
		t.Errorf("ShortID of a short id = %q", got)
	}
	if a := HerokuAuth("registry.heroku.com", "key"); a.Username != "_" || a.Password != "key" || a.ServerAddress != "registry.heroku.com" {
		t.Errorf("HerokuAuth = %+v", a)
	}
}
