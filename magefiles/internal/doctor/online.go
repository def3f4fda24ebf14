package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// imageRegistry asks DOCKER_REGISTRY whether DOCKERHUB_USERNAME and
// DOCKERHUB_PASS may push to the image's repository, with no engine.
func (d *Doctor) imageRegistry(ctx context.Context) Result {
	host := d.get(settings.DockerRegistry)
	res := Result{Check: "registry credentials", Stages: []Stage{Push, Deploy}}
	if registry.IsDockerHub(host) {
		res.Check = "Docker Hub credentials"
	}
	if why := d.lacking(settings.DockerHubUser, settings.DockerHubPass, settings.DockerRegistry, settings.ImageName); why != "" {
		return res.skip(why)
	}
	user := d.get(settings.DockerHubUser)
	img := registry.Image{
		Ref:  registry.Repository(host, user, d.get(settings.ImageName)),
		User: user, Password: d.get(settings.DockerHubPass),
	}
	return d.pushAccess(ctx, res, img, settings.DockerHubRefused, settings.DockerRegistry.Name)
}

// herokuChecks asks the Platform API whether it accepts HEROKU_API_KEY and
// whether HEROKU_APP_NAME can run a container image, and Heroku's registry
// whether it takes the key for the app's image.
func (d *Doctor) herokuChecks(ctx context.Context) []Result {
	key := Result{Check: "Heroku API key", Stages: []Stage{Deploy}}
	app := Result{Check: "Heroku app", Stages: []Stage{Deploy}}
	reg := d.herokuRegistry(ctx)
	if why := d.lacking(settings.HerokuAPIKey, settings.HerokuAPIURL); why != "" {
		return []Result{key.skip(why), app.skip(why), reg}
	}
	keyCtx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	client, err := d.Heroku(heroku.Config{APIURL: d.get(settings.HerokuAPIURL), APIKey: d.get(settings.HerokuAPIKey)})
	var acct heroku.Account
	if err == nil {
		acct, err = client.Account(keyCtx)
	}
	switch why := d.lacking(settings.HerokuAppName); {
	case err != nil:
		return []Result{key.fail(herokuFailure(err)), app.skip("needs an accepted " + settings.HerokuAPIKey.Name), reg}
	case why != "":
		app = app.skip(why)
	default:
		app = d.herokuApp(ctx, app, client)
	}
	return []Result{key.ok("accepted, account " + acct.Email), app, reg}
}

func (d *Doctor) herokuApp(ctx context.Context, res Result, c *heroku.Client) Result {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	app, err := c.App(ctx, d.get(settings.HerokuAppName))
	switch {
	case err != nil:
		return res.fail(herokuFailure(err))
	case app.Generation != "" && app.Generation != "cedar":
		return res.fail(fmt.Sprintf("%s is of Heroku's %s generation, which cannot take container images", app.Name, app.Generation),
			"create a Cedar app with mage heroku:create and a new "+settings.HerokuAppName.Name)
	case !app.IsContainer():
		return res.fail(fmt.Sprintf("%s runs on the %s stack: it cannot run a Docker image", app.Name, app.Stack),
			fmt.Sprintf("heroku stack:set container -a %s, or mage heroku:create, which does it", app.Name))
	}
	return res.ok(fmt.Sprintf("%s, container stack, %s", app.Name, app.WebURL))
}

// herokuFailure returns what went wrong with a Platform API call and what
// to do: the error's own hint, which differs for a refused key, a missing
// app or a failing API.
func herokuFailure(err error) (detail, fix string) {
	hint := heroku.Hint(err)
	detail = strings.TrimSuffix(firstLine(err), "; "+hint)
	switch {
	case hint != "":
		return detail, hint
	case heroku.IsUnauthorized(err):
		return detail, settings.HerokuRefused
	}
	return detail, "check " + settings.HerokuAPIURL.Name + " and the network, then try again"
}

// herokuRegistry asks HEROKU_REGISTRY whether user "_" with the API key may
// push the app's image, as deploy does.
func (d *Doctor) herokuRegistry(ctx context.Context) Result {
	res := Result{Check: "Heroku registry credentials", Stages: []Stage{Deploy}}
	if why := d.lacking(settings.HerokuAPIKey, settings.HerokuAppName, settings.HerokuRegistry); why != "" {
		return res.skip(why)
	}
	img := registry.Image{
		Ref:  d.get(settings.HerokuRegistry) + "/" + d.get(settings.HerokuAppName) + "/web",
		User: "_", Password: d.get(settings.HerokuAPIKey),
	}
	return d.pushAccess(ctx, res, img, settings.HerokuRefused, settings.HerokuRegistry.Name)
}

// pushAccess asks img's registry whether its credentials may push there;
// refused is what to do when they may not.
func (d *Doctor) pushAccess(ctx context.Context, res Result, img registry.Image, refused, endpoint string) Result {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	err := d.CheckPush(ctx, img)
	_, isRefusal := errors.AsType[*registry.AuthError](err)
	switch {
	case err == nil:
		return res.ok(fmt.Sprintf("accepted: %s may push to %s", img.User, img.Ref))
	case isRefusal:
		return res.fail(firstLine(err), refused)
	}
	return res.fail(firstLine(err), "check "+endpoint+" and the network")
}

// timeout returns the bound of one online check.
func (d *Doctor) timeout() time.Duration { return cmp.Or(d.Timeout, DefaultTimeout) }
