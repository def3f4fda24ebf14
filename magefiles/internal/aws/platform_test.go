package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws/awstest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

const version = "v2.0.0"

// The commits deployed; each has its image in the Docker Hub stand-in.
var commits = []string{strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)}

// world is an AWS account faked by awstest, whose ECR is a real registry
// and whose services run their images on the real engine, and a real
// registry standing in for Docker Hub with the image of each commit.
type world struct {
	hub, ecr *testenv.Registry
	fake     *awstest.Server
	out      *testenv.Buffer
}

// newWorld starts the world and points the SDK at it, for t and its
// subtests, which must therefore not run in parallel.
func newWorld(t *testing.T) *world {
	w := &world{hub: testenv.StartRegistry(t), ecr: awstest.StartRegistry(t), out: &testenv.Buffer{}}
	w.fake = awstest.NewServer(t, awstest.Options{Registry: *w.ecr, Docker: testenv.Docker(t)})
	for k, v := range w.fake.Env() {
		t.Setenv(k, v)
	}
	for _, c := range commits {
		w.hub.Put(t, w.source(c).Ref, imagetest.Site(t, version, c))
	}
	return w
}

func (w *world) source(commit string) registry.Image {
	return registry.Image{Ref: w.hub.Host + "/" + w.hub.User + "/oc-lettings:" + commit, User: w.hub.User, Password: w.hub.Password}
}

var resources = aws.Resources{
	Repository: "oc-lettings", ExecutionRole: "ecsTaskExecutionRole", InfrastructureRole: "ecsInfrastructureRoleForExpressServices",
}

// platform connects as the environment says, with c's web identity.
func (w *world) platform(t *testing.T, service string, c aws.Config) *aws.Platform {
	t.Helper()
	c.MaxBackoff = 20 * time.Millisecond
	clients, err := aws.Connect(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return &aws.Platform{
		Clients: clients, Resources: resources, Service: service, Cluster: "default", Port: 8000,
		Environment: map[string]string{"SENTRY_ENVIRONMENT": "staging"}, Out: w.out,
		PollInterval: 20 * time.Millisecond, Timeout: time.Minute,
	}
}

func (w *world) deploy(ctx context.Context, p *aws.Platform, commit string) (deploy.Result, error) {
	return deploy.Run(ctx, p, deploy.Config{
		Commit: commit, Version: version, Source: w.source(commit), Out: w.out,
		PollInterval: 20 * time.Millisecond, HealthTimeout: 2 * time.Second,
	})
}

// serves checks what the service runs and what its URL reports.
func (w *world) serves(t *testing.T, service, commit string, deployments int) {
	t.Helper()
	svc, ok := w.fake.Service("default", service)
	if !ok {
		t.Fatalf("no service %s", service)
	}
	h, err := healthz.Get(context.Background(), svc.URL+"/healthz")
	if err != nil || h.Commit != commit {
		t.Errorf("%s/healthz reports %+v (%v), want commit %.12s", svc.URL, h, err, commit)
	}
	if len(svc.Deployments) != deployments {
		t.Errorf("service deployments = %+v, want %d", svc.Deployments, deployments)
	}
}

func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, s)
		}
	}
}

// TestDeploy runs the scenarios of a service's life, in order, against one account.
func TestDeploy(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t.Cleanup(func() {
		for _, secret := range []string{awstest.SecretAccessKey, w.ecr.Password, w.hub.Password, awstest.WebIdentityToken} {
			if strings.Contains(w.out.String(), secret) {
				t.Errorf("the output shows a secret (%.6s...)", secret)
			}
		}
	})

	t.Run("set-up of an empty account, then the first deploy", func(t *testing.T) {
		p := w.platform(t, "oc-web", aws.Config{})
		_, err := w.deploy(ctx, p, commits[0])
		contains(t, "the error before aws:create", errString(err), "ECR repository oc-lettings does not exist in eu-west-3: create it with mage aws:create")

		done, err := p.Create(ctx, resources)
		if err != nil {
			t.Fatal(err)
		}
		contains(t, "aws:create", strings.Join(done, "\n"),
			"created ECR repository oc-lettings (scan on push, mutable tags)",
			"created IAM role ecsTaskExecutionRole, trusting ecs-tasks.amazonaws.com, with service-role/AmazonECSTaskExecutionRolePolicy",
			"created IAM role ecsInfrastructureRoleForExpressServices, trusting ecs.amazonaws.com, with service-role/AmazonECSInfrastructureRoleforExpressGatewayServices")
		repo, _ := w.fake.Repository("oc-lettings")
		infra, _ := w.fake.Role(resources.InfrastructureRole)
		if !repo.ScanOnPush || repo.TagMutability != "MUTABLE" || !strings.Contains(infra.TrustPolicy, `"Service":"ecs.amazonaws.com"`) ||
			len(infra.Policies) != 1 || infra.Policies[0] != "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRoleforExpressGatewayServices" {
			t.Errorf("repository %+v, infrastructure role %+v", repo, infra)
		}
		done, err = p.Create(ctx, resources)
		if err != nil || len(done) != 3 || !strings.Contains(strings.Join(done, "\n"), "ECR repository oc-lettings exists") ||
			strings.Contains(strings.Join(done, "\n"), "created") {
			t.Errorf("aws:create again: %q, %v; want nothing created", done, err)
		}

		res, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[0])
		if err != nil {
			t.Fatalf("%v\n%s", err, w.out)
		}
		svc, _ := w.fake.Service("default", "oc-web")
		if svc.Image != w.ecr.Host+"/oc-lettings@"+res.Copied.Digest || svc.ContainerPort != 8000 || svc.HealthCheckPath != "/healthz" ||
			svc.Environment["SENTRY_ENVIRONMENT"] != "staging" {
			t.Errorf("service = %+v, want the copied image by digest, port 8000, /healthz and the environment", svc)
		}
		w.serves(t, "oc-web", commits[0], 1)
		contains(t, "the output", w.out.String(), "service oc-web not created yet: this deploy creates it",
			"created service oc-web with "+w.ecr.Host+"/oc-lettings@sha256:", " SUCCESSFUL\n", "health ok: "+svc.URL+"/healthz reports commit 111111111111")
	})

	t.Run("a new commit updates the image", func(t *testing.T) {
		res, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[1])
		if err != nil || res.Unchanged {
			t.Fatalf("%+v, %v\n%s", res, err, w.out)
		}
		w.serves(t, "oc-web", commits[1], 2)
	})

	t.Run("the same image again deploys nothing", func(t *testing.T) {
		res, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[1])
		if err != nil || !res.Unchanged || res.Copied.BytesSent != 0 {
			t.Fatalf("%+v, %v: want unchanged, 0 bytes sent\n%s", res, err, w.out)
		}
		w.serves(t, "oc-web", commits[1], 2)
	})

	t.Run("a deployment ECS rolls back fails the deploy", func(t *testing.T) {
		w.fake.PlanDeployment(awstest.Plan{Outcome: awstest.Rollback})
		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[2])
		rb, ok := errors.AsType[*deploy.RollbackError](err)
		if !ok || rb.Err != nil {
			t.Fatalf("error %v, want a RollbackError that rolled back", err)
		}
		contains(t, "the error", err.Error(), "ended ROLLBACK_SUCCESSFUL", "ECS rolled back deployment ", "runs what it ran before")
		w.serves(t, "oc-web", commits[1], 3)
	})

	t.Run("a deployment ECS calls successful that fails the health check is rolled back", func(t *testing.T) {
		w.fake.PlanDeployment(awstest.Plan{Outcome: awstest.Stale})
		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[2])
		rb, ok := errors.AsType[*deploy.RollbackError](err)
		if !ok || rb.Err != nil {
			t.Fatalf("error %v, want a RollbackError that rolled back", err)
		}
		contains(t, "the error", err.Error(), "did not report commit 333333333333 within 2s", "rolled back: deployment ", "succeeded; the service runs what it ran before")
		w.serves(t, "oc-web", commits[1], 5)
		svc, _ := w.fake.Service("default", "oc-web")
		if last := svc.Deployments[len(svc.Deployments)-1]; last.Status != "SUCCESSFUL" || !strings.HasSuffix(last.Image, w.deployedDigest(t, commits[1])) {
			t.Errorf("the last deployment = %+v, want a successful one back to commit 2's image", last)
		}
	})

	t.Run("throttled calls are retried", func(t *testing.T) {
		w.fake.Fail(awstest.Fault{Action: "UpdateExpressGatewayService", Code: "ThrottlingException", Times: 2})
		if _, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[2]); err != nil {
			t.Fatalf("%v\n%s", err, w.out)
		}
		w.serves(t, "oc-web", commits[2], 6)
		var throttled, updates int
		for _, r := range w.fake.Requests() {
			if r.Action == "UpdateExpressGatewayService" {
				updates++
				throttled += map[bool]int{true: 1}[r.Code == "ThrottlingException"]
			}
		}
		if throttled != 2 {
			t.Errorf("%d updates, %d throttled; want 2 throttled, then one accepted", updates, throttled)
		}
	})

	t.Run("a wrong secret key fails the preflight", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", strings.Repeat("x", 40))
		before := len(w.fake.Requests())
		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[0])
		contains(t, "the error", errString(err), "preflight: STS GetCallerIdentity: AWS answered SignatureDoesNotMatch",
			"check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		if after := w.fake.Requests()[before:]; len(after) != 1 {
			t.Errorf("requests after the refusal: %v", after)
		}
	})

	t.Run("CircleCI's OIDC token assumes the deploy role", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_ENDPOINT_URL_STS", "") // AWS_ENDPOINT_URL alone must do
		w.fake.AddRole(awstest.Role{Name: "oc-deploy"})
		role := "arn:aws:iam::" + awstest.Account + ":role/oc-deploy"

		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{RoleARN: role, OIDCToken: "not-the-token"}), commits[2])
		contains(t, "the error", errString(err), "InvalidIdentityToken", "STS refused CircleCI's OIDC token")

		before := len(w.fake.Requests())
		res, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{RoleARN: role, OIDCToken: awstest.WebIdentityToken}), commits[2])
		if err != nil || !res.Unchanged {
			t.Fatalf("%+v, %v\n%s", res, err, w.out)
		}
		reqs := w.fake.Requests()[before:]
		if reqs[0].Action != "AssumeRoleWithWebIdentity" || reqs[0].AccessKeyID != "" {
			t.Errorf("first request %+v, want an unsigned AssumeRoleWithWebIdentity", reqs[0])
		}
		for _, r := range reqs[1:] {
			if !strings.HasPrefix(r.AccessKeyID, "ASIA") {
				t.Errorf("%s signed with %q, want the assumed role's temporary key", r, r.AccessKeyID)
			}
		}
		contains(t, "the output", w.out.String(), "preflight ok: arn:aws:sts::"+awstest.Account+":assumed-role/oc-deploy/oc-lettings-deploy")

		p := w.platform(t, "oc-web", aws.Config{RoleARN: role, OIDCToken: awstest.WebIdentityToken})
		if _, err := p.WhoAmI(ctx); err != nil {
			t.Fatal(err)
		}
		w.fake.ExpireSessions() // the session p holds expires
		_, err = w.deploy(ctx, p, commits[2])
		contains(t, "the error", errString(err), "AWS answered ExpiredToken", "the AWS session has expired: log in again")
	})

	t.Run("Ctrl-C during the deployment stops it with rollback", func(t *testing.T) {
		w.fake.PlanDeployment(awstest.Plan{Hold: true})
		ctx, cancel := context.WithCancel(ctx)
		mark := len(w.out.String())
		go func() {
			for !strings.HasSuffix(w.out.String()[mark:], " IN_PROGRESS\n") {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[0]) // back to the first: a change
		contains(t, "the error", errString(err), "deploy interrupted while following deployment ", "rolling back: ECS is stopping deployment ")
		deadline := time.Now().Add(time.Minute)
		for {
			svc, _ := w.fake.Service("default", "oc-web")
			if last := svc.Deployments[len(svc.Deployments)-1]; last.Status == "ROLLBACK_SUCCESSFUL" {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the interrupted deployment is %s, want ROLLBACK_SUCCESSFUL", last.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		w.serves(t, "oc-web", commits[2], 7)
	})

	t.Run("Ctrl-C during the health check updates the service back", func(t *testing.T) {
		w.fake.PlanDeployment(awstest.Plan{Outcome: awstest.Stale})
		ctx, cancel := context.WithCancel(ctx)
		mark := len(w.out.String())
		go func() {
			for !strings.HasSuffix(w.out.String()[mark:], " SUCCESSFUL\n") {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		_, err := w.deploy(ctx, w.platform(t, "oc-web", aws.Config{}), commits[0])
		contains(t, "the error", errString(err), "deploy interrupted while checking that deployment ",
			"rolling back: service oc-web is being updated back to "+w.ecr.Host+"/oc-lettings@"+w.deployedDigest(t, commits[2]))
		deadline := time.Now().Add(time.Minute)
		for {
			svc, _ := w.fake.Service("default", "oc-web")
			if last := svc.Deployments[len(svc.Deployments)-1]; last.Status == "SUCCESSFUL" && len(svc.Deployments) == 9 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("deployments %+v, want a ninth, successful, back to commit 3", svc.Deployments)
			}
			time.Sleep(20 * time.Millisecond)
		}
		w.serves(t, "oc-web", commits[2], 9)
	})

	t.Run("a first deploy that fails says there is nothing to roll back to", func(t *testing.T) {
		w.fake.PlanDeployment(awstest.Plan{Outcome: awstest.Rollback})
		_, err := w.deploy(ctx, w.platform(t, "oc-doomed", aws.Config{}), commits[0])
		rb, ok := errors.AsType[*deploy.RollbackError](err)
		if !ok || rb.Err == nil {
			t.Fatalf("error %v, want a RollbackError whose rollback failed", err)
		}
		contains(t, "the error", err.Error(), "service oc-doomed is new, so it has no earlier image to go back to",
			"aws ecs delete-express-gateway-service --service-arn arn:aws:ecs:eu-west-3:123456789012:service/default/oc-doomed")
	})
}

// deployedDigest is the digest of commit's image, as deploy writes it to ECR.
func (w *world) deployedDigest(t *testing.T, commit string) string {
	t.Helper()
	d, err := imagetest.Site(t, version, commit).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
