package docker

import "strings"

// DockerHub is the registry the images go to unless DOCKER_REGISTRY says
// otherwise.
const DockerHub = "docker.io"

// dockerHubAuthAddress is the server address the engine files Docker Hub
// credentials under.
const dockerHubAuthAddress = "https://index.docker.io/v1/"

// IsDockerHub reports whether registry names Docker Hub, under any of the
// names it goes by.
func IsDockerHub(registry string) bool {
	switch registryHost(registry) {
	case "", DockerHub, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return true
	}
	return false
}

// registryHost strips a scheme, a path and a trailing slash from registry,
// so "https://index.docker.io/v1/" and "index.docker.io" compare equal.
func registryHost(registry string) string {
	host := strings.TrimSpace(registry)
	if _, rest, ok := strings.Cut(host, "://"); ok {
		host = rest
	}
	host, _, _ = strings.Cut(host, "/")
	return strings.ToLower(host)
}

// Repository returns the image repository for user and name on registry:
// "alice/oc-lettings" for docker.io (the registry part is omitted as usual),
// "ghcr.io/alice/oc-lettings" elsewhere, and just name when user is empty (a
// local image for a newcomer without an account).
func Repository(registry, user, name string) string {
	switch {
	case user == "":
		return name
	case IsDockerHub(registry):
		return user + "/" + name
	default:
		return registryHost(registry) + "/" + user + "/" + name
	}
}

// HerokuRepository returns the name Heroku's registry expects for the web
// process of app: "<registry>/<app>/web".
func HerokuRepository(registry, app string) string {
	return registryHost(registry) + "/" + app + "/web"
}

// Ref joins a repository and a tag: "alice/oc-lettings:latest".
func Ref(repository, tag string) string { return repository + ":" + tag }

// registryOf returns the registry host a reference points at: the part
// before the first slash when it looks like a host (has a dot or a colon, or
// is localhost), else Docker Hub.
func registryOf(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return DockerHub
}

// registryName is how messages name a registry: "Docker Hub" or
// "the registry ghcr.io".
func registryName(registry string) string {
	if IsDockerHub(registry) {
		return "Docker Hub"
	}
	return "the registry " + registryHost(registry)
}

// HerokuUser is the user name Heroku's registry wants; the password is the
// Heroku API key.
const HerokuUser = "_"

// HerokuAuth returns the credentials for Heroku's registry: user "_" and the
// API key as the password.
func HerokuAuth(registry, apiKey string) Auth {
	return Auth{Username: HerokuUser, Password: apiKey, ServerAddress: registry}
}

// ShortID shortens an image ID as docker images does: sha256: and 12 hex
// digits.
func ShortID(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix)+12 {
		return id[:len(prefix)+12]
	}
	return id
}
