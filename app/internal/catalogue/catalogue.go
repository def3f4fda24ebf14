// Package catalogue holds the site's lettings and profiles behind the Store
// interface, with a read-only store built from seed data embedded in the
// binary.
package catalogue

import (
	"context"
	"errors"
)

// ErrNotFound is returned, possibly wrapped, when a letting or profile does not
// exist.
var ErrNotFound = errors.New("not found")

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
	FavoriteCity string `json:"favorite_city"`
}

// Store gives read access to lettings and profiles.
//
// Implementations must be safe for concurrent use. Methods returning one item
// return an error wrapping ErrNotFound when it does not exist.
type Store interface {
	// Lettings returns every letting, ordered by ID.
	Lettings(ctx context.Context) ([]Letting, error)
	// Letting returns the letting with the given ID.
	Letting(ctx context.Context, id int) (Letting, error)
	// Profiles returns every profile, ordered by username.
	Profiles(ctx context.Context) ([]Profile, error)
	// Profile returns the profile of the given user.
	Profile(ctx context.Context, username string) (Profile, error)
}
