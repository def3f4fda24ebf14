package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/circleci"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// notRun are the targets the test does not run, with the reason. The
// target must still exist: mage is asked for its usage.
var notRun = map[string]string{
	"test": "this test is itself run by mage test: running the suite inside it would run this test again " +
		"(recursion) and double the time; the run of mage test that includes this test is the evidence " +
		"that the target passes, and the config check proves its results are stored",
}

// commandTimeout bounds one mage command of a job.
const commandTimeout = 15 * time.Minute

// TestThePipelineAsWrittenPasses runs the mage commands of every job of the
// delivery workflow, in order, in a committed copy of the work tree, with
// the environment the CircleCI contexts would give, against real and fake
// services; then checks what each service was left with.
func TestThePipelineAsWrittenPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("the pipeline end-to-end test runs the CircleCI jobs' mage commands (lint, build, push, deploy), " +
			"which takes tens of seconds with warm caches and minutes without: skipped with -short")
	}
	raw := testenv.Docker(t)
	ctx := context.Background()

	root := imagetest.Root(t)
	cfg, err := circleci.Load(filepath.Join(root, circleci.Path))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := circleci.ProjectRules(root)
	if err != nil {
		t.Fatal(err)
	}
	jobs := workflowOrder(t, cfg, rules.Chain)

	// The services: one registry for Docker Hub (its own user) and for
	// Heroku's registry (user "_" and the API key), the fake Heroku API
	// looking into that registry, and the fake Sentry API.
	apiKey := testenv.Unique(t, "heroku-key-")
	reg := testenv.StartRegistry(t, testenv.WithUser("_", apiKey))
	api := herokutest.NewServer(apiKey)
	t.Cleanup(api.Close)
	api.SetImages(herokutest.Registry{Host: reg.Host, User: reg.User, Password: reg.Password})
	app := testenv.Unique(t, "oc-pipeline-")
	api.AddApp(herokutest.App{Name: app})
	sentryToken := testenv.Unique(t, "sentry-token-")
	sentry := sentryreleasetest.NewServer(sentryToken, "oc", "lettings")
	t.Cleanup(sentry.Close)

	dir := imagetest.Repo(t) // a clean checkout of a known commit, as CircleCI gives
	commit := strings.TrimSpace(imagetest.Git(t, dir, "rev-parse", "HEAD"))
	version := strings.TrimSpace(imagetest.Git(t, dir, "describe", "--tags", "--always", "--dirty"))

	image := testenv.Unique(t, "oc-pipeline-")
	userRepo := docker.Repository(reg.Host, reg.User, image)
	herokuRepo := docker.HerokuRepository(reg.Host, app)
	jobImages := []string{userRepo + ":" + commit, userRepo + ":latest", herokuRepo + ":latest"}
	testenv.RemoveWhenDone(t, raw, jobImages...)

	port := testenv.FreePort(t)
	env := map[string]string{
		"CI":                        "true", // as CircleCI sets it
		settings.DockerHubUser.Name: reg.User, settings.DockerHubPass.Name: reg.Password,
		settings.DockerRegistry.Name: reg.Host, settings.ImageName.Name: image,
		settings.HerokuAPIKey.Name: apiKey, settings.HerokuAppName.Name: app,
		settings.HerokuAPIURL.Name: api.URL, settings.HerokuRegistry.Name: reg.Host,
		settings.HealthURL.Name:       fmt.Sprintf("http://127.0.0.1:%d/healthz", port),
		settings.SentryAuthToken.Name: sentryToken, settings.SentryOrg.Name: sentry.Org,
		settings.SentryProject.Name: sentry.Project, settings.SentryURL.Name: sentry.URL,
	}
	if schema, _ := circleci.SchemaPath(root, settings.OS); exists(schema) {
		env[settings.CircleCISchema.Name] = schema // the copy has no ../shared next to it
	}

	// Heroku runs the released image; here a container of it plays the dyno
	// whose /healthz the deploy checks.
	startDynos(t, api, app, port)
	targets := newMageTargets(dir)

	var outputs testenv.Buffer // everything the jobs printed
	passed := map[string]bool{}
	for _, wj := range jobs {
		ran := false // to the end: not stopped by a failure or a skip
		ok := t.Run(wj.Name, func(t *testing.T) {
			for _, r := range wj.Requires {
				if !passed[r.Job] {
					t.Skipf("%s did not pass, and CircleCI runs %s only after it passed", r.Job, wj.Name)
				}
			}
			runJob(ctx, t, cfg, targets, wj.Job, dir, jobEnvironment(t, env, cfg.Jobs[wj.Job]), &outputs)
			ran = true
		})
		passed[wj.Name] = ok && ran
		// Each CircleCI job gets a fresh Docker engine: forget the images,
		// so that deploy must pull the one build-and-push pushed.
		removeImages(raw, jobImages)
	}
	if t.Failed() {
		return
	}

	// What the jobs left behind.
	pushed, err := reg.Manifest(ctx, reg.User+"/"+image, commit)
	if err != nil {
		t.Fatalf("build-and-push left no image for commit %s in the registry: %v", commit, err)
	}
	releases := api.Releases(app)
	if len(releases) == 0 || !releases[len(releases)-1].Current || releases[len(releases)-1].Image != pushed.Config.Digest {
		t.Errorf("deploy did not leave the pushed image (%s) as the current release: %+v", pushed.Config.Digest, releases)
	}
	if h, err := healthz(ctx, port); err != nil || h.Status != "ok" || h.Commit != commit {
		t.Errorf("the dyno now answering /healthz says %+v (%v), want status ok and commit %s, whose image was pushed", h, err, commit)
	}
	rel, ok := sentry.Release(buildinfo.ReleaseName(version))
	if !ok || rel.DateReleased == "" || len(rel.Deploys) != 1 {
		t.Errorf("deploy did not record a finalised Sentry release %s with one deploy: %+v (requests %v)",
			buildinfo.ReleaseName(version), rel, sentry.Requests())
	}
	for name, secret := range map[string]string{"DOCKERHUB_PASS": reg.Password, "HEROKU_API_KEY": apiKey, "SENTRY_AUTH_TOKEN": sentryToken} {
		if strings.Contains(outputs.String(), secret) {
			t.Errorf("the jobs' output shows the value of %s", name)
		}
	}
}

// runJob runs the mage commands of a job's steps, as CircleCI would, then
// the diagnosis it runs on failure, which must work and find the stage
// ready, since the job passed. What they print goes to outputs.
func runJob(ctx context.Context, t *testing.T, cfg *circleci.Config, targets mageTargets, job, dir string, env map[string]string, outputs *testenv.Buffer) {
	t.Helper()
	var diagnoses [][]string
	for _, run := range cfg.MageRuns(job) {
		args := runnable(ctx, t, targets, job, run.Args)
		switch {
		case len(args) == 0:
			continue
		case run.Step.When == "on_fail":
			diagnoses = append(diagnoses, args)
			continue
		}
		out, err := mage(ctx, dir, env, args)
		_, _ = outputs.Write([]byte(out))
		if err != nil {
			t.Fatalf("go tool mage %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go tool mage %s: passed", strings.Join(args, " "))
	}
	for _, args := range diagnoses {
		out, err := mage(ctx, dir, env, args)
		_, _ = outputs.Write([]byte(out))
		if err != nil {
			t.Errorf("the diagnosis go tool mage %s failed: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// workflowOrder returns the jobs of the workflow that runs chain, in an
// order that respects requires, and checks it is the chain's.
func workflowOrder(t *testing.T, cfg *circleci.Config, chain []string) []*circleci.WorkflowJob {
	t.Helper()
	for _, w := range cfg.Workflows {
		if w.Job(chain[0]) == nil {
			continue
		}
		order, err := w.Order()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, j := range order {
			names = append(names, j.Name)
		}
		if strings.Join(names, " ") != strings.Join(chain, " ") {
			t.Fatalf("workflow %s runs %v, want %v", w.Name, names, chain)
		}
		return order
	}
	t.Fatalf("no workflow runs %s", chain[0])
	return nil
}

// mageTargets asks the mage of the copy which targets it has, each
// question once; said holds what mage printed when it could not answer.
type mageTargets struct {
	circleci.Targets
	said *testenv.Buffer
}

func newMageTargets(dir string) mageTargets {
	said := &testenv.Buffer{}
	return mageTargets{circleci.Memo(circleci.Mage{Runner: &runner.Runner{Out: said}, Dir: dir}), said}
}

// runnable returns the mage arguments to run for a step's mage command:
// the command as written, less the targets in notRun, which must exist.
func runnable(ctx context.Context, t *testing.T, targets mageTargets, job string, args []string) []string {
	t.Helper()
	inv, err := circleci.ParseInvocation(ctx, args, targets)
	if err != nil {
		t.Fatalf("job %s runs go tool mage %s: %v\n%s", job, strings.Join(args, " "), err, targets.said.String())
	}
	out := append([]string(nil), inv.Flags...)
	kept := 0
	for _, call := range inv.Targets {
		if why, skip := notRun[call.Target]; skip {
			t.Logf("job %s: mage %s exists and is not run here: %s", job, call.Target, why)
			continue
		}
		out = append(append(out, call.Target), call.Args...)
		kept++
	}
	if kept == 0 {
		return nil
	}
	return out
}

// jobEnvironment returns env with the job's own environment: on top, with
// TEST_RESULTS_DIR moved into the test's temporary directory.
func jobEnvironment(t *testing.T, env map[string]string, job *circleci.Job) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for _, s := range job.Environment {
		out[s.Name] = s.Value
	}
	if _, ok := out[settings.TestResultsDir.Name]; ok {
		out[settings.TestResultsDir.Name] = filepath.Join(t.TempDir(), "test-results")
	}
	return out
}

// mage runs go tool mage args in dir, as a CircleCI run step would, with
// env as the pipeline's variables (every other one of them unset), and
// returns all it printed.
func mage(ctx context.Context, dir string, env map[string]string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var out testenv.Buffer
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "mage"}, args...)...)
	cmd.Dir = dir
	cmd.Env = imagetest.Env(env)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second // for what mage started, after a timeout
	err := cmd.Run()
	return out.String(), err
}

// health is what the site's /healthz answers.
type health struct {
	Status, Version, Commit string
}

// healthz asks the dyno listening on port for its /healthz.
func healthz(ctx context.Context, port int) (health, error) {
	var h health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), nil)
	if err != nil {
		return h, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("HTTP %s", resp.Status)
	}
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// startDynos watches the fake's releases of app and runs the image of each
// new current release in a container listening on port, the way a dyno
// binds $PORT; the previous one is removed first.
func startDynos(t *testing.T, api *herokutest.Server, app string, port int) {
	t.Helper()
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var running string // container ID
	stop := func() {
		if running != "" {
			_ = eng.RemoveContainer(context.Background(), running, time.Second)
			running = ""
		}
	}
	go func() {
		defer close(done)
		defer stop()
		started := ""
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rels := api.Releases(app)
			if len(rels) == 0 {
				continue
			}
			cur := rels[len(rels)-1]
			if !cur.Current || cur.Status != "succeeded" || cur.Image == "" || cur.Image == started {
				continue
			}
			stop()
			id, err := eng.CreateContainer(ctx, docker.ContainerSpec{
				Name:  fmt.Sprintf("%s-web-%d", app, cur.Version),
				Image: cur.Image,
				Env:   []string{"PORT=" + strconv.Itoa(port)},
				Port:  port,
			})
			if err == nil {
				running = id
				err = eng.StartContainer(ctx, id)
			}
			if err != nil {
				t.Errorf("starting a dyno of release v%d: %v", cur.Version, err)
				return
			}
			started = cur.Image
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = eng.Close()
	})
}

// removeImages removes image references, as a fresh engine would not have
// them.
func removeImages(raw *client.Client, refs []string) {
	for _, ref := range refs {
		_, _ = raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true})
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
