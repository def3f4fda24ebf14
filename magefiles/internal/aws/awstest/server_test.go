package awstest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// start starts a fake with a real registry and engine, points the SDK's
// default configuration at it with Env, and loads that configuration.
func start(t *testing.T) (*Server, *testenv.Registry, aws.Config) {
	t.Helper()
	docker := testenv.Docker(t)
	reg := StartRegistry(t)
	s := NewServer(t, Options{Registry: *reg, Docker: docker})
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, reg, cfg
}

// withKey returns cfg signing with the given credentials.
func withKey(cfg aws.Config, id, secret, token string) aws.Config {
	cfg = cfg.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, token)
	return cfg
}

// wantError checks that err is the AWS error code, answered with status.
func wantError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != code {
		t.Errorf("error %v, want %s", err, code)
		return
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() != status {
		t.Errorf("%s answered with status %d, want %d", code, resp.HTTPStatusCode(), status)
	}
}

func TestSecretIs40Characters(t *testing.T) {
	if len(SecretAccessKey) != 40 {
		t.Errorf("len(SecretAccessKey) = %d", len(SecretAccessKey))
	}
}

func TestSignatures(t *testing.T) {
	s, _, cfg := start(t)
	ctx := context.Background()

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *id.Arn != UserArn || *id.Account != Account {
		t.Errorf("GetCallerIdentity = %s in %s, want %s in %s", *id.Arn, *id.Account, UserArn, Account)
	}
	// IAM, global, is signed for the client's region at a custom endpoint.
	if _, err := iam.NewFromConfig(cfg).ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("none")}); err != nil {
		var missing *iamtypes.NoSuchEntityException
		if !errors.As(err, &missing) {
			t.Errorf("IAM with a good signature: %v, want NoSuchEntity", err)
		}
	}

	wrongSecret := withKey(cfg, AccessKeyID, strings.Repeat("x", 40), "")
	_, err = sts.NewFromConfig(wrongSecret).GetCallerIdentity(ctx, nil)
	wantError(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
	if err != nil && !strings.Contains(err.Error(), "The request signature we calculated does not match") {
		t.Errorf("message: %v", err)
	}
	_, err = ecr.NewFromConfig(wrongSecret).DescribeRepositories(ctx, nil)
	wantError(t, err, "InvalidSignatureException", http.StatusBadRequest)

	unknown := withKey(cfg, "AKIAUNKNOWN000000000", SecretAccessKey, "")
	_, err = iam.NewFromConfig(unknown).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("x")})
	wantError(t, err, "InvalidClientTokenId", http.StatusForbidden)
	_, err = ecs.NewFromConfig(unknown).DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String("x")})
	wantError(t, err, "UnrecognizedClientException", http.StatusBadRequest)

	elsewhere := cfg.Copy()
	elsewhere.Region = "us-west-2"
	_, err = ecs.NewFromConfig(elsewhere).DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String("x")})
	wantError(t, err, "InvalidSignatureException", http.StatusBadRequest)
	if err != nil && !strings.Contains(err.Error(), "scoped to a valid region") {
		t.Errorf("message: %v", err)
	}

	var got []string
	for _, r := range s.Requests() {
		got = append(got, r.Service+" "+r.Action+" "+r.AccessKeyID+" "+r.Code)
	}
	want := []string{
		"sts GetCallerIdentity " + AccessKeyID + " ",
		"iam ListAttachedRolePolicies " + AccessKeyID + " NoSuchEntity",
		"sts GetCallerIdentity " + AccessKeyID + " SignatureDoesNotMatch",
		"ecr DescribeRepositories " + AccessKeyID + " InvalidSignatureException",
		"iam GetRole AKIAUNKNOWN000000000 InvalidClientTokenId",
		"ecs DescribeExpressGatewayService AKIAUNKNOWN000000000 UnrecognizedClientException",
		"ecs DescribeExpressGatewayService " + AccessKeyID + " InvalidSignatureException",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWebIdentity(t *testing.T) {
	s, _, cfg := start(t)
	ctx := context.Background()
	s.AddRole(Role{Name: "deployer"})
	s.AddRole(Role{Name: "tasks", TrustPolicy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}`})
	deployer, _ := s.Role("deployer")
	tasks, _ := s.Role("tasks")
	client := sts.NewFromConfig(cfg)
	assume := func(roleArn, token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
		return client.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(roleArn), RoleSessionName: aws.String("circleci"), WebIdentityToken: aws.String(token),
		})
	}

	_, err := assume(deployer.Arn, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	wantError(t, err, "InvalidIdentityToken", http.StatusBadRequest)
	_, err = assume(tasks.Arn, WebIdentityToken)
	wantError(t, err, "AccessDenied", http.StatusForbidden)
	_, err = assume("arn:aws:iam::"+Account+":role/missing", WebIdentityToken)
	wantError(t, err, "AccessDenied", http.StatusForbidden)

	out, err := assume(deployer.Arn, WebIdentityToken)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || time.Until(*c.Expiration) < 59*time.Minute || *c.SessionToken == "" {
		t.Errorf("credentials %s expiring %v", *c.AccessKeyId, c.Expiration)
	}
	sessionArn := "arn:aws:sts::" + Account + ":assumed-role/deployer/circleci"
	if *out.AssumedRoleUser.Arn != sessionArn || !strings.HasPrefix(*out.SubjectFromWebIdentityToken, "org/") {
		t.Errorf("assumed %s as %s", *out.AssumedRoleUser.Arn, *out.SubjectFromWebIdentityToken)
	}
	for _, r := range s.Requests() {
		if r.Action == "AssumeRoleWithWebIdentity" && r.AccessKeyID != "" {
			t.Errorf("AssumeRoleWithWebIdentity was signed by %s", r.AccessKeyID)
		}
	}

	session := withKey(cfg, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	id, err := sts.NewFromConfig(session).GetCallerIdentity(ctx, nil)
	if err != nil || *id.Arn != sessionArn {
		t.Errorf("GetCallerIdentity with the session: %v, %v", id, err)
	}
	_, err = sts.NewFromConfig(withKey(cfg, *c.AccessKeyId, *c.SecretAccessKey, "")).GetCallerIdentity(ctx, nil)
	wantError(t, err, "InvalidClientTokenId", http.StatusForbidden)
	_, err = ecr.NewFromConfig(withKey(cfg, *c.AccessKeyId, *c.SecretAccessKey, "forged")).GetAuthorizationToken(ctx, nil)
	wantError(t, err, "UnrecognizedClientException", http.StatusBadRequest)

	// The SDK's own credential chain, as a CircleCI job would use it.
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte(WebIdentityToken), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token)
	t.Setenv("AWS_ROLE_ARN", deployer.Arn)
	t.Setenv("AWS_ROLE_SESSION_NAME", "chain")
	chain, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err = sts.NewFromConfig(chain).GetCallerIdentity(ctx, nil)
	if err != nil || !strings.HasSuffix(*id.Arn, ":assumed-role/deployer/chain") {
		t.Errorf("GetCallerIdentity through the credential chain: %v, %v", id, err)
	}

	s.ExpireSessions()
	_, err = sts.NewFromConfig(session).GetCallerIdentity(ctx, nil)
	wantError(t, err, "ExpiredToken", http.StatusForbidden)
	_, err = ecr.NewFromConfig(session).GetAuthorizationToken(ctx, nil)
	wantError(t, err, "ExpiredTokenException", http.StatusBadRequest)
	if err != nil && !strings.Contains(err.Error(), "The security token included in the request is expired") {
		t.Errorf("message: %v", err)
	}
}

func TestIAMRoles(t *testing.T) {
	s, _, cfg := start(t)
	ctx := context.Background()
	client := iam.NewFromConfig(cfg)

	_, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ecs-infrastructure")})
	var missing *iamtypes.NoSuchEntityException
	if !errors.As(err, &missing) {
		t.Errorf("GetRole of a missing role: %v, want NoSuchEntity", err)
	}
	wantError(t, err, "NoSuchEntity", http.StatusNotFound)

	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	created, err := client.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("ecs-infrastructure"), AssumeRolePolicyDocument: aws.String(policy), Description: aws.String("Express"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ecs-infrastructure")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument)
	wantArn := "arn:aws:iam::" + Account + ":role/ecs-infrastructure"
	switch {
	case err != nil || doc != policy:
		t.Errorf("AssumeRolePolicyDocument %q, decoded %q (%v)", *got.Role.AssumeRolePolicyDocument, doc, err)
	case *got.Role.Arn != wantArn || *created.Role.Arn != wantArn:
		t.Errorf("ARNs %s and %s, want %s", *created.Role.Arn, *got.Role.Arn, wantArn)
	case !strings.HasPrefix(*got.Role.RoleId, "AROA") || time.Since(*got.Role.CreateDate) > time.Minute || *got.Role.Description != "Express":
		t.Errorf("role %+v", got.Role)
	}

	_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ecs-infrastructure"), AssumeRolePolicyDocument: aws.String(policy)})
	wantError(t, err, "EntityAlreadyExists", http.StatusConflict)
	_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("other"), AssumeRolePolicyDocument: aws.String("{")})
	wantError(t, err, "MalformedPolicyDocument", http.StatusBadRequest)

	managed := "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"
	for range 2 { // attaching is idempotent
		if _, err := client.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("ecs-infrastructure"), PolicyArn: aws.String(managed)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = client.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("missing"), PolicyArn: aws.String(managed)})
	wantError(t, err, "NoSuchEntity", http.StatusNotFound)
	list, err := client.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("ecs-infrastructure")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.AttachedPolicies) != 1 || *list.AttachedPolicies[0].PolicyArn != managed ||
		*list.AttachedPolicies[0].PolicyName != "AmazonECSInfrastructureRoleforExpressGatewayServices" {
		t.Errorf("attached policies %+v", list.AttachedPolicies)
	}
	if r, ok := s.Role("ecs-infrastructure"); !ok || r.TrustPolicy != policy || !slices.Equal(r.Policies, []string{managed}) {
		t.Errorf("Role = %+v, %v", r, ok)
	}
}

func TestECRRepositories(t *testing.T) {
	s, reg, cfg := start(t)
	ctx := context.Background()
	client := ecr.NewFromConfig(cfg)

	_, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"oc-lettings"}})
	wantError(t, err, "RepositoryNotFoundException", http.StatusBadRequest)
	_, err = client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Not Valid")})
	wantError(t, err, "InvalidParameterException", http.StatusBadRequest)

	created, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("oc-lettings"),
		ImageTagMutability:         "IMMUTABLE",
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	found, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"oc-lettings"}})
	if err != nil {
		t.Fatal(err)
	}
	r := found.Repositories[0]
	if *r.RepositoryUri != reg.Host+"/oc-lettings" || *created.Repository.RepositoryUri != *r.RepositoryUri ||
		!r.ImageScanningConfiguration.ScanOnPush || r.ImageTagMutability != "IMMUTABLE" || time.Since(*r.CreatedAt) > time.Minute {
		t.Errorf("repository %+v", r)
	}
	_, err = client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("oc-lettings")})
	wantError(t, err, "RepositoryAlreadyExistsException", http.StatusBadRequest)
	if got, ok := s.Repository("oc-lettings"); !ok || !got.ScanOnPush || got.TagMutability != "IMMUTABLE" || got.URI != *r.RepositoryUri {
		t.Errorf("Repository = %+v, %v", got, ok)
	}

	auth, err := client.GetAuthorizationToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := auth.AuthorizationData[0]
	decoded, _ := base64.StdEncoding.DecodeString(*data.AuthorizationToken)
	user, password, _ := strings.Cut(string(decoded), ":")
	if user != "AWS" || password != reg.Password || *data.ProxyEndpoint != "http://"+reg.Host || time.Until(*data.ExpiresAt) < 11*time.Hour {
		t.Errorf("authorization %q for %s until %v", decoded, *data.ProxyEndpoint, data.ExpiresAt)
	}
	req, _ := http.NewRequest(http.MethodGet, *data.ProxyEndpoint+"/v2/", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("logging in to the registry with the token: %s", resp.Status)
	}
}

func TestFaults(t *testing.T) {
	s, _, cfg := start(t)
	ctx := context.Background()

	// Throttling is retried by the SDK's standard retryer.
	s.Fail(Fault{Action: "DescribeRepositories", Code: "ThrottlingException", Times: 2})
	if _, err := ecr.NewFromConfig(cfg).DescribeRepositories(ctx, nil); err != nil {
		t.Errorf("DescribeRepositories after two throttles: %v", err)
	}
	// An error after the work was done: the retry finds it done.
	s.Fail(Fault{Action: "CreateRole", Code: "ServiceFailure", Status: http.StatusInternalServerError, Processed: true})
	_, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("{}")})
	wantError(t, err, "EntityAlreadyExists", http.StatusConflict)
	// Access denied is not retried.
	s.Fail(Fault{Service: "ecr", Code: "AccessDeniedException", Message: "not authorized to perform: ecr:GetAuthorizationToken"})
	_, err = ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, nil)
	wantError(t, err, "AccessDeniedException", http.StatusBadRequest)

	var got []string
	for _, r := range s.Requests() {
		got = append(got, r.String())
	}
	want := []string{
		"ecr DescribeRepositories -> 400 ThrottlingException",
		"ecr DescribeRepositories -> 400 ThrottlingException",
		"ecr DescribeRepositories -> 200 ",
		"iam CreateRole -> 500 ServiceFailure",
		"iam CreateRole -> 409 EntityAlreadyExists",
		"ecr GetAuthorizationToken -> 400 AccessDeniedException",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// push puts img in the registry's repository and returns its reference
// by digest.
func push(t *testing.T, reg *testenv.Registry, repository string, img v1.Image) string {
	t.Helper()
	reg.Put(t, reg.Host+"/"+repository+":latest", img)
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return reg.Host + "/" + repository + "@" + digest.String()
}

// ecsClient follows deployments the way a deploy tool does.
type ecsClient struct {
	*ecs.Client
	t   *testing.T
	arn string // the service's
}

// latest returns the service's newest deployment, and how many it has.
func (c ecsClient) latest() (ecstypes.ServiceDeploymentBrief, int) {
	c.t.Helper()
	out, err := c.ListServiceDeployments(context.Background(), &ecs.ListServiceDeploymentsInput{Service: aws.String(c.arn)})
	if err != nil || len(out.ServiceDeployments) == 0 {
		c.t.Fatalf("ListServiceDeployments: %v, %v", out, err)
	}
	return out.ServiceDeployments[0], len(out.ServiceDeployments)
}

// wait waits until the newest deployment ends and returns it.
func (c ecsClient) wait() ecstypes.ServiceDeployment {
	c.t.Helper()
	brief, _ := c.latest()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, err := c.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{*brief.ServiceDeploymentArn}})
		if err != nil {
			c.t.Fatal(err)
		}
		d := out.ServiceDeployments[0]
		switch d.Status {
		case ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentStatusStopped,
			ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
			return d
		}
	}
	c.t.Fatalf("deployment %s still under way after a minute", *brief.ServiceDeploymentArn)
	return ecstypes.ServiceDeployment{}
}

// update updates the service's image and environment.
func (c ecsClient) update(image string, env ...string) error {
	c.t.Helper()
	_, err := c.UpdateExpressGatewayService(context.Background(), &ecs.UpdateExpressGatewayServiceInput{
		ServiceArn: aws.String(c.arn), PrimaryContainer: primary(image, env...),
	})
	return err
}

func primary(image string, env ...string) *ecstypes.ExpressGatewayContainer {
	c := &ecstypes.ExpressGatewayContainer{Image: aws.String(image), ContainerPort: aws.Int32(8000)}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		c.Environment = append(c.Environment, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	return c
}

// commitAt returns the commit /healthz reports at the endpoint, or the
// status when it is not 200.
func commitAt(t *testing.T, endpoint string) string {
	t.Helper()
	resp, err := http.Get(endpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	var h struct{ Commit string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Commit
}

func TestECSDeployments(t *testing.T) {
	docker := testenv.Docker(t)
	var s *Server
	t.Cleanup(func() { // after the server's own clean-up; other tests' servers may run now
		mine := client.Filters{}.Add("label", ContainerLabel+"="+s.id)
		list, err := docker.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: mine})
		if err == nil && len(list.Items) > 0 {
			t.Errorf("%d containers left behind", len(list.Items))
		}
	})
	s, reg, cfg := start(t)
	ctx := context.Background()
	v1Image, v2Image := push(t, reg, "oc-lettings", imagetest.Site(t, "1.0.0", "aaaaaaa")), push(t, reg, "oc-lettings", imagetest.Site(t, "1.0.0", "bbbbbbb"))
	s.AddRepository("oc-lettings")
	s.AddRole(Role{Name: "execution"})
	s.AddRole(Role{Name: "infrastructure"})
	execution, _ := s.Role("execution")
	infrastructure, _ := s.Role("infrastructure")
	c := ecsClient{Client: ecs.NewFromConfig(cfg), t: t}
	create := func(name string, pc *ecstypes.ExpressGatewayContainer) (*ecs.CreateExpressGatewayServiceOutput, error) {
		return c.CreateExpressGatewayService(ctx, &ecs.CreateExpressGatewayServiceInput{
			ServiceName: aws.String(name), PrimaryContainer: pc, HealthCheckPath: aws.String("/healthz"),
			ExecutionRoleArn: aws.String(execution.Arn), InfrastructureRoleArn: aws.String(infrastructure.Arn),
		})
	}

	_, err := create("site", primary(reg.Host+"/elsewhere:latest"))
	wantError(t, err, "InvalidParameterException", http.StatusBadRequest)
	_, err = c.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String(serviceArn("default", "site"))})
	wantError(t, err, "ServiceNotFoundException", http.StatusBadRequest)

	// A held first deployment: nothing serves yet.
	s.PlanDeployment(Plan{Hold: true})
	created, err := create("site", primary(v1Image, "PORT=8000", "SENTRY_ENVIRONMENT=test"))
	if err != nil {
		t.Fatal(err)
	}
	c.arn = *created.Service.ServiceArn
	endpoint := *created.Service.ActiveConfigurations[0].IngressPaths[0].Endpoint
	if c.arn != "arn:aws:ecs:"+Region+":"+Account+":service/default/site" || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Errorf("service %s at %s", c.arn, endpoint)
	}
	if d, _ := c.latest(); d.Status != ecstypes.ServiceDeploymentStatusInProgress && d.Status != ecstypes.ServiceDeploymentStatusPending {
		t.Errorf("held deployment is %s", d.Status)
	}
	if got := commitAt(t, endpoint); got != "503 Service Unavailable" {
		t.Errorf("endpoint before any deployment: %s", got)
	}
	s.Finish()
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusSuccessful || d.SourceServiceRevisions != nil {
		t.Fatalf("first deployment %s (%s), from %v", d.Status, aws.ToString(d.StatusReason), d.SourceServiceRevisions)
	}
	if got := commitAt(t, endpoint); got != "aaaaaaa" {
		t.Errorf("endpoint after the first deployment: %s", got)
	}
	described, err := c.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String(c.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if ac := described.Service.ActiveConfigurations[0]; *ac.PrimaryContainer.Image != v1Image || *ac.HealthCheckPath != "/healthz" ||
		*ac.ExecutionRoleArn != execution.Arn || len(ac.PrimaryContainer.Environment) != 2 || described.Service.Status.StatusCode != "ACTIVE" {
		t.Errorf("active configuration %+v", ac)
	}

	// The same configuration, environment reordered: no deployment.
	if err := c.update(v1Image, "SENTRY_ENVIRONMENT=test", "PORT=8000"); err != nil {
		t.Fatal(err)
	}
	if _, n := c.latest(); n != 1 {
		t.Errorf("an update that changes nothing made deployment %d", n)
	}

	// The circuit breaker rolls back, scripted or for a failing health check.
	s.PlanDeployment(Plan{Outcome: Rollback})
	if err := c.update(v2Image, "PORT=8000"); err != nil {
		t.Fatal(err)
	}
	d := c.wait()
	if d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful || !strings.Contains(*d.StatusReason, "circuit breaker") || d.Rollback == nil {
		t.Errorf("scripted rollback: %s (%s)", d.Status, aws.ToString(d.StatusReason))
	}
	s.HealthTimeout = time.Second                          // a deployment keeps the timeout it started with
	if err := c.update(v2Image, "PORT=9999"); err != nil { // it listens where no traffic goes
		t.Fatal(err)
	}
	s.HealthTimeout = 20 * time.Second
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful || !strings.Contains(*d.StatusReason, "health checks") {
		t.Errorf("unhealthy deployment: %s (%s)", d.Status, aws.ToString(d.StatusReason))
	}
	svc, _ := s.Service("", "site")
	if got := commitAt(t, endpoint); got != "aaaaaaa" || svc.Image != v1Image || svc.Environment["PORT"] != "8000" {
		t.Errorf("after the rollbacks the endpoint serves %s, %+v", got, svc)
	}

	// ECS says successful, but the old revision keeps the traffic.
	s.PlanDeployment(Plan{Outcome: Stale})
	if err := c.update(v2Image, "PORT=8000"); err != nil {
		t.Fatal(err)
	}
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Errorf("stale deployment: %s", d.Status)
	}
	if got := commitAt(t, endpoint); got != "aaaaaaa" {
		t.Errorf("stale deployment: the endpoint serves %s", got)
	}
	if err := c.update(v1Image, "PORT=8000"); err != nil { // the deploy tool's rollback
		t.Fatal(err)
	}
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusSuccessful || len(d.SourceServiceRevisions) != 1 {
		t.Errorf("rollback update: %s from %v", d.Status, d.SourceServiceRevisions)
	}

	// A held deployment stopped with a rollback.
	s.PlanDeployment(Plan{Hold: true})
	if err := c.update(v2Image, "PORT=8000"); err != nil {
		t.Fatal(err)
	}
	held, _ := c.latest()
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: held.ServiceDeploymentArn, StopType: "ROLLBACK"}); err != nil {
		t.Fatal(err)
	}
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("stopped deployment: %s", d.Status)
	}
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: held.ServiceDeploymentArn, StopType: "ROLLBACK"})
	wantError(t, err, "ConflictException", http.StatusBadRequest)
	svc, _ = s.Service("", "site")
	if got := commitAt(t, endpoint); got != "aaaaaaa" || svc.Image != v1Image || len(svc.Deployments) != 6 {
		t.Errorf("after the stop the endpoint serves %s, %+v", got, svc)
	}

	// A good deployment of the new image.
	if err := c.update(v2Image, "PORT=8000"); err != nil {
		t.Fatal(err)
	}
	if d := c.wait(); d.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Errorf("deployment of the new image: %s (%s)", d.Status, aws.ToString(d.StatusReason))
	}
	if got := commitAt(t, endpoint); got != "bbbbbbb" {
		t.Errorf("the endpoint serves %s after the new image's deployment", got)
	}

	// A first deployment that fails has nothing to roll back to.
	s.HealthTimeout = time.Second
	broken, err := create("broken", primary(v1Image, "PORT=9999"))
	if err != nil {
		t.Fatal(err)
	}
	if d := (ecsClient{c.Client, t, *broken.Service.ServiceArn}).wait(); d.Status != ecstypes.ServiceDeploymentStatusStopped {
		t.Errorf("failed first deployment: %s (%s)", d.Status, aws.ToString(d.StatusReason))
	}

	deleted, err := c.DeleteExpressGatewayService(ctx, &ecs.DeleteExpressGatewayServiceInput{ServiceArn: aws.String(c.arn)})
	if err != nil || deleted.Service.Status.StatusCode != "DRAINING" {
		t.Fatalf("DeleteExpressGatewayService: %v, %v", deleted, err)
	}
	if got := commitAt(t, endpoint); got != "503 Service Unavailable" {
		t.Errorf("endpoint of a deleted service: %s", got)
	}
	err = c.update(v2Image, "PORT=8000")
	wantError(t, err, "ServiceNotActiveException", http.StatusBadRequest)
}
