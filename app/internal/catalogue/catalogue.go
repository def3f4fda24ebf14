// Package catalogue holds the site's lettings and profiles: read-only seed
// data embedded in the binary, checked once at start-up.
package catalogue

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
)

//go:embed seed.json
var seedJSON []byte

// Address is the postal address of a letting.
type Address struct {
	Number         int    `json:"number"`
	Street         string `json:"street"`
	City           string `json:"city"`
	State          string `json:"state"`            // two-letter US state code
	ZipCode        string `json:"zip_code"`         // five-digit US ZIP code
	CountryISOCode string `json:"country_iso_code"` // ISO 3166-1 alpha-3 code
}

// Letting is a holiday home offered for rent.
type Letting struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Address Address `json:"address"`
}

// Profile is a user's public profile.
type Profile struct {
	Username     string `json:"username"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Email        string `json:"email,omitempty"` // empty when the user gave none
	FavoriteCity string `json:"favorite_city"`
}

// Catalogue is every letting and profile, as stored in seed.json.
type Catalogue struct {
	Lettings []Letting `json:"lettings"`
	Profiles []Profile `json:"profiles"`
}

// Embedded returns the catalogue embedded in the binary, checked and sorted
// by New.
func Embedded() (Catalogue, error) {
	dec := json.NewDecoder(bytes.NewReader(seedJSON))
	dec.DisallowUnknownFields()
	var c Catalogue
	if err := dec.Decode(&c); err != nil {
		return Catalogue{}, fmt.Errorf("catalogue: decode embedded seed.json: %w", err)
	}
	c, err := New(c)
	if err != nil {
		return Catalogue{}, fmt.Errorf("catalogue: embedded seed.json: %w", err)
	}
	return c, nil
}

// New returns a copy of c with lettings ordered by ID and profiles by
// username. It checks that IDs are positive and unique, usernames unique, no
// field but a profile's email is empty, and an email, when given, is a plain
// address.
func New(c Catalogue) (Catalogue, error) {
	c = Catalogue{Lettings: slices.Clone(c.Lettings), Profiles: slices.Clone(c.Profiles)}
	ids := make(map[int]bool, len(c.Lettings))
	for _, l := range c.Lettings {
		if err := checkLetting(l); err != nil {
			return Catalogue{}, err
		}
		if ids[l.ID] {
			return Catalogue{}, fmt.Errorf("letting ID %d is used twice", l.ID)
		}
		ids[l.ID] = true
	}
	names := make(map[string]bool, len(c.Profiles))
	for _, p := range c.Profiles {
		if err := checkProfile(p); err != nil {
			return Catalogue{}, err
		}
		if names[p.Username] {
			return Catalogue{}, fmt.Errorf("username %q is used twice", p.Username)
		}
		names[p.Username] = true
	}
	slices.SortFunc(c.Lettings, func(a, b Letting) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Profiles, func(a, b Profile) int { return cmp.Compare(a.Username, b.Username) })
	return c, nil
}

// checkLetting reports a letting with a missing field.
func checkLetting(l Letting) error {
	a := l.Address
	switch {
	case l.ID < 1:
		return fmt.Errorf("letting %q: ID %d is not positive", l.Title, l.ID)
	case l.Title == "":
		return fmt.Errorf("letting %d: title is required", l.ID)
	case a.Number < 1 || a.Street == "" || a.City == "" || len(a.State) != 2 ||
		len(a.ZipCode) != 5 || len(a.CountryISOCode) != 3:
		return fmt.Errorf("letting %d: incomplete address %+v", l.ID, a)
	}
	return nil
}

// checkProfile reports a profile with a missing field or a malformed email.
func checkProfile(p Profile) error {
	if p.Username == "" || p.FirstName == "" || p.LastName == "" || p.FavoriteCity == "" {
		return fmt.Errorf("profile %q: username, first name, last name and favorite city are required", p.Username)
	}
	if p.Email != "" {
		if addr, err := mail.ParseAddress(p.Email); err != nil || addr.Name != "" || addr.Address != p.Email {
			return fmt.Errorf("profile %q: email %q is not a plain address such as name@example.com", p.Username, p.Email)
		}
	}
	return nil
}
