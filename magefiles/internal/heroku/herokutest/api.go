package herokutest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// appName is Heroku's pattern for app names (schema: app.name).
var appName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`)

// digest is the form of an image ID: the digest of its config.
var digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// configName is the pattern of config var names.
var configName = regexp.MustCompile(`^\w+$`)

// stacks are the stacks an app may be on.
var stacks = []string{"container", "heroku-22", "heroku-24"}

func (s *Server) getAccount(w http.ResponseWriter, _ *http.Request) {
	testenv.WriteJSON(w, http.StatusOK, map[string]any{
		"id": "01234567-89ab-cdef-0123-456789abcdef", "email": Email, "name": "Deployer",
		"verified": true, "beta": false, "allow_tracking": false, "two_factor_authentication": true,
		"created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
	})
}

// withApp finds the {app} of the path, or answers Heroku's 404, and calls
// h with s.mu held.
func (s *Server) withApp(h func(http.ResponseWriter, *http.Request, *app)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		a := s.app(r.PathValue("app"))
		if a == nil {
			appNotFound(w)
			return
		}
		h(w, r, a)
	}
}

func appNotFound(w http.ResponseWriter) {
	testenv.WriteJSON(w, http.StatusNotFound, map[string]string{
		"id": "not_found", "message": "Couldn't find that app.", "resource": "app",
	})
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name  *string `json:"name"`
		Stack *string `json:"stack"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := ""
	if body.Name != nil {
		name = *body.Name
	} else {
		name = "fake-app-" + newID()[:8]
	}
	stack := "heroku-24"
	if body.Stack != nil {
		stack = *body.Stack
	}
	switch {
	case !appName.MatchString(name):
		writeError(w, http.StatusUnprocessableEntity, "invalid_params",
			"Name must start with a letter, end with a letter or digit and can only contain lowercase letters, digits, and dashes.")
	case s.app(name) != nil:
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Name "+name+" is already taken")
	case !slices.Contains(stacks, stack):
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Couldn't find that stack.")
	default:
		a := s.addApp(App{Name: name, Stack: stack})
		testenv.WriteJSON(w, http.StatusCreated, appJSON(a))
	}
}

func (s *Server) getApp(w http.ResponseWriter, _ *http.Request, a *app) {
	testenv.WriteJSON(w, http.StatusOK, appJSON(a))
}

func (s *Server) updateApp(w http.ResponseWriter, r *http.Request, a *app) {
	var body struct {
		BuildStack *string `json:"build_stack"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.BuildStack != nil {
		if !slices.Contains(stacks, *body.BuildStack) {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Couldn't find that stack.")
			return
		}
		a.BuildStack = *body.BuildStack
	}
	testenv.WriteJSON(w, http.StatusOK, appJSON(a))
}

func (s *Server) getConfigVars(w http.ResponseWriter, _ *http.Request, a *app) {
	testenv.WriteJSON(w, http.StatusOK, a.config)
}

func (s *Server) updateConfigVars(w http.ResponseWriter, r *http.Request, a *app) {
	var body map[string]*string
	if !decode(w, r, &body) {
		return
	}
	for k, v := range body {
		if !configName.MatchString(k) {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Invalid config var name "+strconv.Quote(k))
			return
		}
		if v == nil {
			delete(a.config, k)
		} else {
			a.config[k] = *v
		}
	}
	// Heroku releases the app with its new config, running the same image.
	if cur := a.current(); cur != nil {
		s.newRelease(a, cur.Image, "Set config vars", s.nextPlan())
		s.settle(a)
	}
	testenv.WriteJSON(w, http.StatusOK, a.config)
}

// updateFormation is the docker-releases formation update: it releases
// the image given for the web process. The registry is asked whether the
// image was pushed without holding s.mu, so a slow registry holds up no
// other request.
func (s *Server) updateFormation(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	s.mu.Lock()
	found := s.app(name) != nil
	images := s.images
	s.mu.Unlock()
	if !found {
		appNotFound(w)
		return
	}
	var body struct {
		Updates []struct {
			Type        string `json:"type"`
			DockerImage string `json:"docker_image"`
			Quantity    *int   `json:"quantity"`
		} `json:"updates"`
	}
	if !decode(w, r, &body) {
		return
	}
	if len(body.Updates) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Invalid params: updates is required.")
		return
	}
	var image string
	for _, u := range body.Updates {
		switch {
		case u.DockerImage == "":
			continue // a scale or resize: not what the pipeline does
		case r.Header.Get("Accept") != AcceptDockerReleases:
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				"Invalid params: docker_image is only accepted with Accept: "+AcceptDockerReleases)
			return
		case u.Type != "web":
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Couldn't find that process type ("+u.Type+").")
			return
		case !digest.MatchString(u.DockerImage):
			writeError(w, http.StatusUnprocessableEntity, "invalid_params", "docker_image must be an image ID: sha256: and 64 hex digits.")
			return
		}
		image = u.DockerImage
	}
	pushed := image != "" && imagePushed(r.Context(), images, name, image)

	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(name) // apps are never removed: it is still there
	if image != "" {
		if a.Generation != "cedar" {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				"Container Registry releases are not available for apps of the "+a.Generation+" generation.")
			return
		}
		if a.BuildStack != "container" {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				"This app's stack is "+a.BuildStack+", not container: switch it with heroku stack:set container.")
			return
		}
		if !pushed {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				"Couldn't find image "+image+" in the app's repository: push it to registry.heroku.com/"+a.Name+"/web first.")
			return
		}
		if cur := a.current(); cur == nil || cur.Image != image {
			a.Stack = a.BuildStack
			s.newRelease(a, image, "Deployed web ("+short(image)+")", s.nextPlan())
			s.settle(a)
		}
	}
	now := s.tick().Format(time.RFC3339)
	testenv.WriteJSON(w, http.StatusOK, []map[string]any{{
		"app":        map[string]string{"id": a.id, "name": a.Name},
		"command":    "",
		"created_at": now, "updated_at": now,
		"dyno_size": map[string]string{"id": "e2d5a1c4-0000-4000-8000-000000000001", "name": "basic"},
		"id":        "e2d5a1c4-0000-4000-8000-000000000002",
		"quantity":  1, "size": "basic", "type": "web",
	}})
}

// imagePushed asks images whether the app's repository holds image. It
// may take a round trip to a registry: the caller does not hold s.mu.
func imagePushed(ctx context.Context, images Images, app, image string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := images.ConfigDigest(ctx, app)
	return err == nil && got == image
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, a *app) {
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid Range header: "+err.Error()+".")
		return
	}
	all := make([]*release, len(a.releases))
	copy(all, a.releases)
	if rng.desc {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	var page []*release
	more := false
	for _, rel := range all {
		if !rng.contains(rel) {
			continue
		}
		if len(page) == rng.max {
			more = true
			break
		}
		page = append(page, rel)
	}
	out := make([]map[string]any, len(page))
	for i, rel := range page {
		s.poll(a, rel)
		out[i] = releaseJSON(s, a, rel)
	}
	w.Header().Set("Accept-Ranges", "id, version")
	status := http.StatusOK
	if len(page) > 0 {
		first, last := page[0], page[len(page)-1]
		w.Header().Set("Content-Range", rng.field+" "+rng.key(first)+".."+rng.key(last))
		if more {
			status = http.StatusPartialContent
			w.Header().Set("Next-Range", fmt.Sprintf("%s ]%s..; %s", rng.field, rng.key(last), rng.params()))
		}
	}
	testenv.WriteJSON(w, status, out)
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, a *app) {
	rel := a.release(r.PathValue("release"))
	if rel == nil {
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
		return
	}
	s.poll(a, rel)
	testenv.WriteJSON(w, http.StatusOK, releaseJSON(s, a, rel))
}

// createRelease is the rollback form of POST /apps/{app}/releases.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, a *app) {
	var body struct {
		Release *string `json:"release"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Release == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Invalid params: this fake only rolls back (release is required).")
		return
	}
	target := a.release(*body.Release)
	switch {
	case target == nil:
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
	case target.Status != "succeeded":
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Release "+target.name()+" is not eligible for rollback: its status is "+target.Status+".")
	default:
		rel := s.newRelease(a, target.Image, "Rollback to "+target.name(), s.nextPlan())
		s.settle(a)
		testenv.WriteJSON(w, http.StatusCreated, releaseJSON(s, a, rel))
	}
}

// stream serves a release's output_stream_url.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var rel *release
	for _, a := range s.apps {
		if x := a.release(strings.TrimPrefix(r.URL.Path, "/streams/")); x != nil {
			rel = x
		}
	}
	missing := rel == nil || rel.plan.Output == "" || rel.streams < rel.plan.StreamMissing
	if rel != nil {
		rel.streams++
	}
	var out string
	if rel != nil {
		out = rel.plan.Output
	}
	s.mu.Unlock()
	if missing {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(out))
}

// newRelease adds a release of image to a, with the next version; the
// caller holds s.mu and settles the app afterwards.
func (s *Server) newRelease(a *app, image, description string, plan ReleasePlan) *release {
	version := 1
	if n := len(a.releases); n > 0 {
		version = a.releases[n-1].Version + 1
	}
	if plan.Status == "" {
		plan.Status = "succeeded"
	}
	now := s.tick()
	rel := &release{
		Release: Release{ID: newID(), Version: version, Status: plan.Status, Description: description, Image: image},
		plan:    plan, polls: plan.Polls, created: now, updated: now,
	}
	if plan.Polls != 0 {
		rel.Status = "pending"
	}
	a.releases = append(a.releases, rel)
	return rel
}

// nextPlan uses up the next scripted release plan; the caller holds s.mu.
func (s *Server) nextPlan() ReleasePlan {
	if len(s.plans) == 0 {
		return ReleasePlan{}
	}
	p := s.plans[0]
	s.plans = s.plans[1:]
	return p
}

// poll counts a read of a pending release, ending it when its plan says;
// the caller holds s.mu.
func (s *Server) poll(a *app, rel *release) {
	if rel.Status != "pending" || rel.polls < 0 {
		return
	}
	if rel.polls > 0 {
		rel.polls--
		return
	}
	rel.Status, rel.updated = rel.plan.Status, s.tick()
	s.settle(a)
}

// settle marks the newest succeeded release current; the caller holds s.mu.
func (s *Server) settle(a *app) {
	cur := -1
	for i, rel := range a.releases {
		rel.Current = false
		if rel.Status == "succeeded" {
			cur = i
		}
	}
	if cur >= 0 {
		a.releases[cur].Current = true
	}
}

func (a *app) current() *release {
	for _, rel := range a.releases {
		if rel.Current {
			return rel
		}
	}
	return nil
}

// release finds a release by id or version number.
func (a *app) release(ident string) *release {
	for _, rel := range a.releases {
		if rel.ID == ident || strconv.Itoa(rel.Version) == ident {
			return rel
		}
	}
	return nil
}

func (r *release) name() string { return "v" + strconv.Itoa(r.Version) }

func appJSON(a *app) map[string]any {
	created := a.created.Format(time.RFC3339)
	return map[string]any{
		"acm": false, "archived_at": nil, "buildpack_provided_description": nil,
		"build_stack": map[string]string{"id": stackID(a.BuildStack), "name": a.BuildStack},
		"created_at":  created, "updated_at": created, "released_at": nil,
		"generation": map[string]string{"id": "0a1b2c3d-0000-4000-8000-000000000000", "name": a.Generation},
		"git_url":    "https://git.heroku.com/" + a.Name + ".git",
		"id":         a.id, "internal_routing": nil, "maintenance": false, "name": a.Name,
		"organization": nil, "team": nil, "space": nil,
		"owner":     map[string]string{"email": Email, "id": "01234567-89ab-cdef-0123-456789abcdef"},
		"region":    map[string]string{"id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us"},
		"repo_size": nil, "slug_size": nil,
		"stack":   map[string]string{"id": stackID(a.Stack), "name": a.Stack},
		"web_url": a.WebURL,
	}
}

func releaseJSON(s *Server, a *app, rel *release) map[string]any {
	var stream any
	if rel.plan.Output != "" {
		stream = s.URL + "/streams/" + rel.ID
	}
	return map[string]any{
		"addon_plan_names": []string{}, "artifacts": []any{},
		"app":                   map[string]string{"id": a.id, "name": a.Name},
		"created_at":            rel.created.Format(time.RFC3339),
		"updated_at":            rel.updated.Format(time.RFC3339),
		"current":               rel.Current,
		"description":           rel.Description,
		"eligible_for_rollback": rel.Status == "succeeded",
		"id":                    rel.ID,
		"output_stream_url":     stream,
		"slug":                  nil,
		"status":                rel.Status,
		"user":                  map[string]string{"email": Email, "id": "01234567-89ab-cdef-0123-456789abcdef"},
		"version":               rel.Version,
	}
}

func stackID(name string) string {
	return fmt.Sprintf("%08x-0000-4000-8000-000000000000", len(name))
}

// decode reads a JSON request body into v, or answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid JSON in the request body: "+err.Error())
		return false
	}
	return true
}
