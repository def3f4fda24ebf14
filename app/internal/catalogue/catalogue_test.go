package catalogue

import (
	"slices"
	"strings"
	"testing"
)

func TestEmbedded(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatalf("Embedded(): %v", err)
	}
	if len(c.Lettings) != 6 {
		t.Errorf("got %d lettings, want 6", len(c.Lettings))
	}
	for i, l := range c.Lettings {
		if l.ID != i+1 {
			t.Errorf("lettings[%d].ID = %d, want %d", i, l.ID, i+1)
		}
		if l.Address.CountryISOCode != "USA" {
			t.Errorf("letting %d: country %q, want USA", l.ID, l.Address.CountryISOCode)
		}
	}
	if len(c.Profiles) != 4 {
		t.Errorf("got %d profiles, want 4", len(c.Profiles))
	}
	// The profile page must cope with a user who gave no email.
	withEmail := 0
	for _, p := range c.Profiles {
		if p.Email != "" {
			withEmail++
		}
	}
	if withEmail == 0 || withEmail == len(c.Profiles) {
		t.Errorf("%d of %d profiles have an email; want some with and some without", withEmail, len(c.Profiles))
	}
}

// person is a valid profile with the given username and favorite city.
func person(username, city string) Profile {
	return Profile{Username: username, FirstName: "Erin", LastName: "Lee", Email: "erin@example.com", FavoriteCity: city}
}

// home is a valid letting with the given ID.
func home(id int) Letting {
	return Letting{ID: id, Title: "Home", Address: Address{
		Number: 1, Street: "Main Street", City: "Irvine", State: "CA", ZipCode: "92612", CountryISOCode: "USA",
	}}
}

func TestNewSortsACopy(t *testing.T) {
	in := Catalogue{
		Lettings: []Letting{home(3), home(1), home(2)},
		Profiles: []Profile{person("erin", "Orange"), person("bob", "Brea"), person("dmitri", "Irvine")},
	}
	c, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, l := range c.Lettings {
		ids = append(ids, l.ID)
	}
	var names []string
	for _, p := range c.Profiles {
		names = append(names, p.Username)
	}
	if !slices.Equal(ids, []int{1, 2, 3}) {
		t.Errorf("lettings ordered %v, want by ID", ids)
	}
	if !slices.Equal(names, []string{"bob", "dmitri", "erin"}) {
		t.Errorf("profiles ordered %v, want by username", names)
	}
	if in.Lettings[0].ID != 3 || in.Profiles[0].Username != "erin" {
		t.Error("New sorted the caller's slices")
	}
}

func TestNewRejectsBadCatalogue(t *testing.T) {
	good := home(1)
	withEmail := func(email string) Profile {
		p := person("a", "Irvine")
		p.Email = email
		return p
	}
	tests := []struct {
		name string
		in   Catalogue
		want string
	}{
		{"duplicate ID", Catalogue{Lettings: []Letting{good, good}}, "used twice"},
		{"zero ID", Catalogue{Lettings: []Letting{home(0)}}, "not positive"},
		{"no title", Catalogue{Lettings: []Letting{func() Letting { l := good; l.Title = ""; return l }()}}, "title"},
		{"bad state", Catalogue{Lettings: []Letting{func() Letting { l := good; l.Address.State = "Cal"; return l }()}}, "address"},
		{"duplicate user", Catalogue{Profiles: []Profile{person("a", "Irvine"), person("a", "Tustin")}}, "used twice"},
		{"no city", Catalogue{Profiles: []Profile{person("a", "")}}, "favorite city"},
		{"no last name", Catalogue{Profiles: []Profile{{Username: "a", FirstName: "A", FavoriteCity: "Irvine"}}}, "last name"},
		{"email without @", Catalogue{Profiles: []Profile{withEmail("a.example.com")}}, "email"},
		{"email with a name", Catalogue{Profiles: []Profile{withEmail("A <a@example.com>")}}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNewAcceptsProfileWithoutEmail(t *testing.T) {
	p := person("dmitri", "Irvine")
	p.Email = ""
	if _, err := New(Catalogue{Profiles: []Profile{p}}); err != nil {
		t.Errorf("New() rejected a profile with no email: %v", err)
	}
}
