package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
)

// reLink finds the links to lettings and profiles in a page.
var reLink = regexp.MustCompile(`href="(/(?:lettings|profiles)/[^"]+/)"`)

// TestEveryLinkHasAPage follows every letting and profile link of the list
// pages, for the embedded catalogue and for one whose username needs
// escaping in a URL, and checks the page each leads to.
func TestEveryLinkHasAPage(t *testing.T) {
	tustin := catalogue.Address{
		Number: 1, Street: "Main Street", City: "Tustin", State: "CA", ZipCode: "92780", CountryISOCode: "USA",
	}
	tests := []struct {
		name      string
		catalogue catalogue.Catalogue // zero: the embedded one
		wantLinks int
	}{
		{"embedded", catalogue.Catalogue{}, 6 + 4},
		{"escaped", catalogue.Catalogue{
			Lettings: []catalogue.Letting{{ID: 12, Title: "Tustin Ranch House", Address: tustin}},
			Profiles: []catalogue.Profile{{
				Username: "erin o'neil ü", FirstName: "Erin", LastName: "O'Neil", FavoriteCity: "Orange",
			}},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestSite(t, Options{Catalogue: tt.catalogue}, nil)
			var links []string
			for _, list := range []string{"/lettings/", "/profiles/"} {
				for _, m := range reLink.FindAllStringSubmatch(get(t, h, http.MethodGet, list, nil).Body.String(), -1) {
					if m[1] != list {
						links = append(links, m[1])
					}
				}
			}
			if len(links) != tt.wantLinks {
				t.Errorf("%d links %q, want %d", len(links), links, tt.wantLinks)
			}
			for _, link := range links {
				w := get(t, h, http.MethodGet, link, nil)
				if w.Code != http.StatusOK || title(w.Body.String()) == "" {
					t.Errorf("GET %s: status %d, title %q; want a page", link, w.Code, title(w.Body.String()))
				}
			}
		})
	}
}

func TestEmptyCatalogue(t *testing.T) {
	// Empty, but not nil: newTestSite takes a zero Catalogue for the embedded one.
	h := newTestSite(t, Options{Catalogue: catalogue.Catalogue{
		Lettings: []catalogue.Letting{}, Profiles: []catalogue.Profile{},
	}}, nil)
	for target, want := range map[string]string{"/lettings/": "No lettings yet.", "/profiles/": "No profiles yet."} {
		w := get(t, h, http.MethodGet, target, nil)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET %s: status %d, body lacks %q", target, w.Code, want)
		}
	}
	if w := get(t, h, http.MethodGet, "/lettings/1/", nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /lettings/1/ of an empty catalogue: status %d, want 404", w.Code)
	}
}
