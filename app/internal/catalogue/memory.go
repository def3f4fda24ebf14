package catalogue

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
)

//go:embed seed.json
var seedJSON []byte

// Seed is the content of a catalogue, as stored in seed.json.
type Seed struct {
	Lettings []Letting `json:"lettings"`
	Profiles []Profile `json:"profiles"`
}

// Memory is a read-only Store held in memory.
type Memory struct {
	lettings []Letting // sorted by ID
	profiles []Profile // sorted by username
	byID     map[int]Letting
	byName   map[string]Profile
}

var _ Store = (*Memory)(nil)

// Embedded returns a Memory store holding the seed data embedded in the
// binary.
func Embedded() (*Memory, error) {
	dec := json.NewDecoder(bytes.NewReader(seedJSON))
	dec.DisallowUnknownFields()
	var seed Seed
	if err := dec.Decode(&seed); err != nil {
		return nil, fmt.Errorf("catalogue: decode embedded seed.json: %w", err)
	}
	m, err := NewMemory(seed)
	if err != nil {
		return nil, fmt.Errorf("catalogue: embedded seed.json: %w", err)
	}
	return m, nil
}

// NewMemory returns a Memory store holding a copy of seed. It checks that IDs
// are positive and unique, usernames unique, and no field is empty.
func NewMemory(seed Seed) (*Memory, error) {
	m := &Memory{
		lettings: slices.Clone(seed.Lettings),
		profiles: slices.Clone(seed.Profiles),
		byID:     make(map[int]Letting, len(seed.Lettings)),
		byName:   make(map[string]Profile, len(seed.Profiles)),
	}
	for _, l := range m.lettings {
		if err := checkLetting(l); err != nil {
			return nil, err
		}
		if _, dup := m.byID[l.ID]; dup {
			return nil, fmt.Errorf("letting ID %d is used twice", l.ID)
		}
		m.byID[l.ID] = l
	}
	for _, p := range m.profiles {
		if p.Username == "" || p.FavoriteCity == "" {
			return nil, fmt.Errorf("profile %q: username and favourite city are required", p.Username)
		}
		if _, dup := m.byName[p.Username]; dup {
			return nil, fmt.Errorf("username %q is used twice", p.Username)
		}
		m.byName[p.Username] = p
	}
	slices.SortFunc(m.lettings, func(a, b Letting) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(m.profiles, func(a, b Profile) int { return cmp.Compare(a.Username, b.Username) })
	return m, nil
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

// Lettings returns every letting, ordered by ID.
func (m *Memory) Lettings(context.Context) ([]Letting, error) {
	return slices.Clone(m.lettings), nil
}

// Letting returns the letting with the given ID.
func (m *Memory) Letting(_ context.Context, id int) (Letting, error) {
	l, ok := m.byID[id]
	if !ok {
		return Letting{}, fmt.Errorf("letting %d: %w", id, ErrNotFound)
	}
	return l, nil
}

// Profiles returns every profile, ordered by username.
func (m *Memory) Profiles(context.Context) ([]Profile, error) {
	return slices.Clone(m.profiles), nil
}

// Profile returns the profile of the given user.
func (m *Memory) Profile(_ context.Context, username string) (Profile, error) {
	p, ok := m.byName[username]
	if !ok {
		return Profile{}, fmt.Errorf("profile %q: %w", username, ErrNotFound)
	}
	return p, nil
}
