package circleci_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws/awstest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/circleci"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// notRun are the targets the test does not run, with the reason. The
// config check proves they exist.
var notRun = map[string]string{
	"test": "this test is itself run by mage test: running the suite inside it would run this test again " +
		"(recursion) and double the time; the run of mage test that includes this test is the evidence " +
		"that the target passes, and the config check proves its results are stored",
}

// TestThePipelineAsWrittenPasses runs the mage commands of every job of the
// delivery workflow, in order, in a committed copy of the work tree, with
// the environment the CircleCI contexts would give, against real and fake
// services; then checks what each service was left with. As on CircleCI,
// each job starts with an engine that has none of the images of the jobs
// before, and the deploy job has no engine at all.
func TestThePipelineAsWrittenPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("the pipeline end-to-end test runs the CircleCI jobs' mage commands (lint, build, push, deploy), " +
			"which takes tens of seconds with warm caches and minutes without: skipped with -short")
	}
	raw := testenv.Docker(t)
	ctx := context.Background()
	cfg, err := circleci.Load(imagetest.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Pipeline()
	if err != nil {
		t.Fatal(err)
	}

	// The services: one registry for Docker Hub (its own user) and for
	// Heroku's registry (user "_" and the API key), the fake Heroku API
	// looking into that registry, and the fake Sentry API.
	apiKey := testenv.Unique(t, "heroku-key-")
	reg := testenv.StartRegistry(t, testenv.WithUser("_", apiKey))
	api := herokutest.NewServer(apiKey)
	t.Cleanup(api.Close)
	api.SetImages(herokutest.Registry{Host: reg.Host, User: "_", Password: apiKey})
	app := testenv.Unique(t, "oc-pipeline-")
	api.AddApp(herokutest.App{Name: app})
	sentryToken := testenv.Unique(t, "sentry-token-")
	sentry := sentryreleasetest.NewServer(sentryToken, "oc", "lettings")
	t.Cleanup(sentry.Close)

	dir := imagetest.Repo(t) // a clean checkout of a known commit, as CircleCI gives
	commit := strings.TrimSpace(imagetest.Git(t, dir, "rev-parse", "HEAD"))
	version := strings.TrimSpace(imagetest.Git(t, dir, "describe", "--tags", "--always", "--dirty"))
	image := testenv.Unique(t, "oc-pipeline-")
	userRepo := registry.Repository(reg.Host, reg.User, image)
	jobImages := []string{userRepo + ":" + commit, userRepo + ":latest"}
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
	if schema := os.Getenv(settings.CircleCISchema.Name); schema != "" {
		if !filepath.IsAbs(schema) {
			schema = filepath.Join(imagetest.Root(t), schema) // the copy is elsewhere
		}
		env[settings.CircleCISchema.Name] = schema
	}

	// Heroku runs the released image; here a container of it, pulled from
	// Heroku's registry as a dyno is, plays the dyno whose /healthz the
	// deploy checks.
	startDynos(t, api, reg, apiKey, app, port)

	var outputs testenv.Buffer // everything the jobs printed
	passed := map[string]bool{}
	for _, job := range jobs {
		ran := false // to the end: not stopped by a failure or a skip
		ok := t.Run(job.Name, func(t *testing.T) {
			for _, r := range job.Requires {
				if !passed[r] {
					t.Skipf("%s did not pass, and CircleCI runs %s only after it passed", r, job.Name)
				}
			}
			runJob(ctx, t, job, dir, jobEnvironment(t, env, job), &outputs)
			ran = true
		})
		passed[job.Name] = ok && ran
		// Each CircleCI job gets a fresh Docker engine: forget the images,
		// so that nothing the build job left can help the deploy.
		for _, ref := range jobImages {
			_, _ = raw.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
		}
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
	if h, err := healthz.Get(ctx, env[settings.HealthURL.Name]); err != nil || h.Status != "ok" || h.Commit != commit {
		t.Errorf("the dyno now answering /healthz says %+v (%v), want status ok and commit %s, whose image was pushed", h, err, commit)
	}
	rel, ok := sentry.Release(buildinfo.ReleaseName(version))
	if !ok || rel.DateReleased == "" || len(rel.Deploys) != 1 {
		t.Errorf("deploy did not record a finalised Sentry release %s with one deploy: %+v (requests %v)",
			buildinfo.ReleaseName(version), rel, sentry.Requests())
	}

	// The same deploy job with the aws context: DEPLOY_PLATFORM=aws, after
	// an administrator ran mage aws:create once.
	ecr := awstest.StartRegistry(t)
	fake := awstest.NewServer(t, awstest.Options{Registry: *ecr, Docker: raw})
	awsEnv := maps.Clone(env)
	delete(awsEnv, settings.HealthURL.Name) // the service's own URL is checked
	maps.Copy(awsEnv, fake.Env())
	awsEnv[settings.DeployPlatform.Name], awsEnv[settings.ECSServiceName.Name] = settings.AWS, "oc-pipeline"
	t.Run("deploy to AWS", func(t *testing.T) {
		out, err := mage(ctx, dir, awsEnv, []string{"aws:create"})
		_, _ = outputs.Write([]byte(out))
		if err != nil {
			t.Fatalf("go tool mage aws:create: %v\n%s", err, out)
		}
		i := slices.IndexFunc(jobs, func(j circleci.Job) bool { return j.Name == "deploy" })
		runJob(ctx, t, jobs[i], dir, jobEnvironment(t, awsEnv, jobs[i]), &outputs)
		svc, _ := fake.Service("default", "oc-pipeline")
		if h, err := healthz.Get(ctx, svc.URL+"/healthz"); err != nil || h.Commit != commit {
			t.Errorf("the ECS service answers /healthz with %+v (%v), want commit %s", h, err, commit)
		}
	})
	for name, secret := range map[string]string{
		"DOCKERHUB_PASS": reg.Password, "HEROKU_API_KEY": apiKey, "SENTRY_AUTH_TOKEN": sentryToken,
		"AWS_SECRET_ACCESS_KEY": awstest.SecretAccessKey, "the ECR password": ecr.Password,
	} {
		if strings.Contains(outputs.String(), secret) {
			t.Errorf("the jobs' output shows the value of %s", name)
		}
	}
}

// runJob runs the mage commands of a job's steps, as CircleCI would, then
// the diagnosis it runs on failure, which must work and find the stage
// ready, since the job passed. What they print goes to outputs.
func runJob(ctx context.Context, t *testing.T, job circleci.Job, dir string, env map[string]string, outputs *testenv.Buffer) {
	t.Helper()
	for _, args := range append(slices.Clone(job.Mage), job.OnFail...) {
		args = slices.DeleteFunc(slices.Clone(args), func(word string) bool {
			why, skip := notRun[word]
			if skip {
				t.Logf("job %s: mage %s exists and is not run here: %s", job.Name, word, why)
			}
			return skip
		})
		if len(args) == 0 {
			continue
		}
		out, err := mage(ctx, dir, env, args)
		_, _ = outputs.Write([]byte(out))
		if err != nil {
			t.Fatalf("go tool mage %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go tool mage %s: passed", strings.Join(args, " "))
	}
}

// jobEnvironment returns env with the job's own environment: on top, with
// TEST_RESULTS_DIR moved into the test's temporary directory. A job that
// sets up no Docker engine of its own has none.
func jobEnvironment(t *testing.T, env map[string]string, job circleci.Job) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for k, v := range job.Env {
		out[k] = v
	}
	if _, ok := out[settings.TestResultsDir.Name]; ok {
		out[settings.TestResultsDir.Name] = filepath.Join(t.TempDir(), "test-results")
	}
	if job.Name == "deploy" {
		out["DOCKER_HOST"] = "tcp://127.0.0.1:1" // deploy needs no engine: there is none
	}
	return out
}

// mage runs go tool mage args in dir, as a CircleCI run step would, with
// env as the pipeline's variables (every other one of them unset), and
// returns all it printed.
func mage(ctx context.Context, dir string, env map[string]string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
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

// startDynos watches the fake's releases of app and runs the image of each
// new current release, pulled from Heroku's registry, in a container
// listening on port, the way a dyno binds $PORT; the previous one is
// removed first.
func startDynos(t *testing.T, api *herokutest.Server, reg *testenv.Registry, apiKey, app string, port int) {
	t.Helper()
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/" + app + "/web:latest"
	testenv.RemoveWhenDone(t, testenv.Docker(t), ref)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var running string // container ID
	stop := func() {
		if running != "" {
			_ = eng.RemoveContainer(context.Background(), running, time.Second)
			running = ""
		}
	}
	start := func(version int) error {
		if err := eng.Pull(ctx, registry.Image{Ref: ref, User: "_", Password: apiKey}, nil); err != nil {
			return err
		}
		id, err := eng.CreateContainer(ctx, docker.ContainerSpec{
			Name: fmt.Sprintf("%s-web-%d", app, version), Image: ref, Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port,
		})
		if err == nil {
			running = id
			err = eng.StartContainer(ctx, id)
		}
		return err
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
			if err := start(cur.Version); err != nil {
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
