// Package heroku talks to the Heroku Platform API (through
// github.com/heroku/heroku-go/v6) to check an app, release a container
// image, follow the release and roll it back.
package heroku

// API CONTRACT (stub): the signatures below are relied on by the doctor
// package, written at the same time. Implement the bodies; keep these names
// and signatures; add whatever else you need.

import (
	"context"
	"errors"
)

var errNotImplemented = errors.New("heroku: not implemented yet")

// Config says where the API is and how to authenticate.
type Config struct {
	APIURL string // default https://api.heroku.com (HEROKU_API_URL)
	APIKey string // sent only as a bearer token
}

// Client is a Platform API client.
type Client struct{}

// New returns a client for cfg.
func New(cfg Config) *Client { return &Client{} }

// Account is the account an API key belongs to.
type Account struct {
	Email string
}

// Account returns the key's account: it tells whether the key is accepted.
func (c *Client) Account(ctx context.Context) (Account, error) { return Account{}, errNotImplemented }

// App is what the pipeline needs to know about an app.
type App struct {
	Name       string
	Stack      string // e.g. container, heroku-24
	BuildStack string
	WebURL     string
}

// App returns the named app, or an error that says it does not exist (or is
// not visible to this key) and what to do.
func (c *Client) App(ctx context.Context, name string) (App, error) { return App{}, errNotImplemented }
