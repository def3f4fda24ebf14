package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
)

// editableStore is a Store whose data a test can change, as a database's
// would.
type editableStore struct {
	mu       sync.Mutex
	lettings []catalogue.Letting
	profiles []catalogue.Profile
}

func (s *editableStore) Lettings(context.Context) ([]catalogue.Letting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]catalogue.Letting(nil), s.lettings...), nil
}

func (s *editableStore) Letting(_ context.Context, id int) (catalogue.Letting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lettings {
		if l.ID == id {
			return l, nil
		}
	}
	return catalogue.Letting{}, fmt.Errorf("letting %d: %w", id, catalogue.ErrNotFound)
}

func (s *editableStore) Profiles(context.Context) ([]catalogue.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]catalogue.Profile(nil), s.profiles...), nil
}

func (s *editableStore) Profile(_ context.Context, username string) (catalogue.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.profiles {
		if p.Username == username {
			return p, nil
		}
	}
	return catalogue.Profile{}, fmt.Errorf("profile %q: %w", username, catalogue.ErrNotFound)
}

func (s *editableStore) edit(f func(*editableStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestPagesFollowStoreChanges(t *testing.T) {
	store := &editableStore{
		lettings: []catalogue.Letting{{ID: 1, Title: "Old Title", Address: catalogue.Address{
			Number: 1, Street: "Main Street", City: "Tustin", State: "CA", ZipCode: "92780", CountryISOCode: "USA",
		}}},
		profiles: []catalogue.Profile{{Username: "erin", FavoriteCity: "Orange"}},
	}
	h := newTestSite(t, Options{Store: store}, nil)
	body := func(target string) string {
		t.Helper()
		w := get(t, h, http.MethodGet, target, nil)
		return fmt.Sprintf("%d %s", w.Code, w.Body.String())
	}
	pages := []string{"/lettings/", "/lettings/1/", "/profiles/", "/profiles/erin/"}
	for _, p := range pages {
		body(p) // fill the caches
	}

	store.edit(func(s *editableStore) {
		s.lettings[0].Title = "New Title"
		s.lettings = append(s.lettings, catalogue.Letting{ID: 2, Title: "Second Home", Address: s.lettings[0].Address})
		s.profiles[0].FavoriteCity = "Fullerton"
	})
	tests := []struct{ target, want, gone string }{
		{"/lettings/", "Second Home", "Old Title"},
		{"/lettings/1/", "<h1>New Title</h1>", "Old Title"},
		{"/lettings/2/", "<h1>Second Home</h1>", ""},
		{"/profiles/", "Fullerton", "Orange<"},
		{"/profiles/erin/", "<dd>Fullerton</dd>", "<dd>Orange</dd>"},
	}
	for _, tt := range tests {
		got := body(tt.target)
		if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, tt.want) {
			t.Errorf("GET %s after the change lacks %q", tt.target, tt.want)
		}
		if tt.gone != "" && strings.Contains(got, tt.gone) {
			t.Errorf("GET %s after the change still shows %q", tt.target, tt.gone)
		}
	}

	store.edit(func(s *editableStore) { s.profiles = nil })
	if got := body("/profiles/erin/"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("GET /profiles/erin/ after removal: %.20s, want 404", got)
	}
	if got := body("/profiles/"); !strings.Contains(got, "No profiles yet.") {
		t.Error("empty profile list not shown as empty")
	}
}

func TestPageCacheIsBounded(t *testing.T) {
	ts, err := parseTemplates(newAssets(t).URL, "profile.html")
	if err != nil {
		t.Fatal(err)
	}
	c := newPageCache(ts["profile.html"], func(a, b catalogue.Profile) bool { return a == b })
	for i := range maxCachedPages + 10 {
		p := catalogue.Profile{Username: fmt.Sprint("user", i), FavoriteCity: "Irvine"}
		if _, err := c.render(p.Username, p, p.Username, "profiles"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.pages); n > maxCachedPages {
		t.Errorf("%d cached pages, want at most %d", n, maxCachedPages)
	}
}

func TestPageCacheReusesRendering(t *testing.T) {
	ts, err := parseTemplates(newAssets(t).URL, "profile.html")
	if err != nil {
		t.Fatal(err)
	}
	c := newPageCache(ts["profile.html"], func(a, b catalogue.Profile) bool { return a == b })
	p := catalogue.Profile{Username: "erin", FavoriteCity: "Orange"}
	first, _ := c.render("erin", p, "erin", "profiles")
	second, _ := c.render("erin", p, "erin", "profiles")
	if &first[0] != &second[0] {
		t.Error("equal data rendered twice")
	}
	p.FavoriteCity = "Brea"
	third, _ := c.render("erin", p, "erin", "profiles")
	if &third[0] == &first[0] || !strings.Contains(string(third), "Brea") {
		t.Error("changed data served from the cache")
	}
}
