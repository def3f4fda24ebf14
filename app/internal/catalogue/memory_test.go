package catalogue

import (
	"errors"
	"strings"
	"testing"
)

func TestEmbedded(t *testing.T) {
	m, err := Embedded()
	if err != nil {
		t.Fatalf("Embedded(): %v", err)
	}
	ctx := t.Context()
	lettings, err := m.Lettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lettings) != 6 {
		t.Errorf("got %d lettings, want 6", len(lettings))
	}
	for i, l := range lettings {
		if l.ID != i+1 {
			t.Errorf("lettings[%d].ID = %d, want %d", i, l.ID, i+1)
		}
		if l.Address.CountryISOCode != "USA" {
			t.Errorf("letting %d: country %q, want USA", l.ID, l.Address.CountryISOCode)
		}
	}
	profiles, err := m.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) != 4 {
		t.Errorf("got %d profiles, want 4", len(profiles))
	}
}

func TestLookups(t *testing.T) {
	m, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tests := []struct {
		name     string
		lookup   func() (string, error)
		want     string
		notFound bool
	}{
		{
			"letting 1", func() (string, error) { l, err := m.Letting(ctx, 1); return l.Title, err },
			"Laguna Beach Cliffside Cottage", false,
		},
		{
			"letting 6", func() (string, error) { l, err := m.Letting(ctx, 6); return l.Address.City, err },
			"Irvine", false,
		},
		{"letting 0", func() (string, error) { l, err := m.Letting(ctx, 0); return l.Title, err }, "", true},
		{"letting 7", func() (string, error) { l, err := m.Letting(ctx, 7); return l.Title, err }, "", true},
		{
			"profile", func() (string, error) { p, err := m.Profile(ctx, "dmitri"); return p.FavoriteCity, err },
			"Irvine", false,
		},
		{
			"profile case matters", func() (string, error) { p, err := m.Profile(ctx, "DMITRI"); return p.Username, err },
			"", true,
		},
		{
			"profile unknown", func() (string, error) { p, err := m.Profile(ctx, "nobody"); return p.Username, err },
			"", true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.notFound {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("error = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListsAreCopies(t *testing.T) {
	m, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := m.Lettings(t.Context())
	first[0].Title = "changed"
	again, _ := m.Lettings(t.Context())
	if again[0].Title == "changed" {
		t.Error("changing a returned slice changed the store")
	}
}

func TestNewMemoryRejectsBadSeed(t *testing.T) {
	good := Letting{ID: 1, Title: "Home", Address: Address{
		Number: 1, Street: "Main Street", City: "Irvine", State: "CA", ZipCode: "92612", CountryISOCode: "USA",
	}}
	tests := []struct {
		name string
		seed Seed
		want string
	}{
		{"duplicate ID", Seed{Lettings: []Letting{good, good}}, "used twice"},
		{"zero ID", Seed{Lettings: []Letting{func() Letting { l := good; l.ID = 0; return l }()}}, "not positive"},
		{"no title", Seed{Lettings: []Letting{func() Letting { l := good; l.Title = ""; return l }()}}, "title"},
		{"bad state", Seed{Lettings: []Letting{func() Letting { l := good; l.Address.State = "Cal"; return l }()}}, "address"},
		{"duplicate user", Seed{Profiles: []Profile{{"a", "Irvine"}, {"a", "Tustin"}}}, "used twice"},
		{"no city", Seed{Profiles: []Profile{{"a", ""}}}, "favourite city"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMemory(tt.seed)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewMemory() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
