package docker

// API CONTRACT (stub), see engine.go.

// Repository returns the image repository for user and name on registry:
// "alice/oc-lettings" for docker.io (the registry part is omitted as usual),
// "ghcr.io/alice/oc-lettings" elsewhere, and just name when user is empty (a
// local image for a newcomer without an account).
func Repository(registry, user, name string) string { return "" }

// HerokuRepository returns the name Heroku's registry expects for the web
// process of app: "<registry>/<app>/web".
func HerokuRepository(registry, app string) string { return "" }
