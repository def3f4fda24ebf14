package aws

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Platform runs mage deploy's steps on ECS Express Mode (see
// deploy.Platform): the image goes to the ECR repository with the token
// ECR gives, and the service is created with it on the first deploy, or
// updated to it by digest; the service deployment this starts is followed
// to its end.
type Platform struct {
	*Clients
	Resources
	Service string // ECS_SERVICE_NAME
	Cluster string // ECS_CLUSTER
	Port    int32  // the site's port in the container
	// Environment is given to the container of a new service (SENTRY_DSN,
	// SENTRY_ENVIRONMENT); an update changes the image and nothing else.
	Environment  map[string]string
	Out          io.Writer
	Timeout      time.Duration // the longest wait for a deployment or a rollback; default 20 minutes
	PollInterval time.Duration // the wait between polls; default 5 s

	arn        string                                    // the service's
	repository string                                    // where the image goes: host/name
	roles      map[string]string                         // role name -> ARN
	before     *types.ExpressGatewayServiceConfiguration // what ran before the deploy; nil for a new service
	known      map[string]bool                           // the service deployments before the release
	deployment string                                    // the ARN of the one the release started
	url        string                                    // the service's, once known
}

// NewPlatform connects as vals say, to deploy to the service they name.
// A new service gets SENTRY_DSN and SENTRY_ENVIRONMENT, when set.
func NewPlatform(ctx context.Context, vals settings.Values, out io.Writer) (*Platform, error) {
	c, r := FromSettings(vals)
	clients, err := Connect(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Platform{
		Clients: clients, Resources: r, Service: vals.Get(settings.ECSServiceName), Cluster: vals.Get(settings.ECSCluster),
		Port: 8000, Environment: vals.SiteSentry(), Out: out,
	}, nil
}

func (p *Platform) say(format string, args ...any) { fmt.Fprintf(p.Out, format+"\n", args...) }

// Preflight checks the credentials, that aws:create has made the
// repository and the roles, and what the service runs, and gets ECR's
// registry credentials.
func (p *Platform) Preflight(ctx context.Context) (deploy.Target, error) {
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return deploy.Target{}, err
	}
	_, err = p.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{p.Repository}})
	if isCode(err, "RepositoryNotFoundException") {
		return deploy.Target{}, fmt.Errorf("ECR repository %s does not exist in %s: create it with mage aws:create", p.Repository, p.Region)
	} else if err != nil {
		return deploy.Target{}, Explain(err)
	}
	p.roles = map[string]string{}
	for _, name := range []string{p.ExecutionRole, p.InfrastructureRole} {
		out, err := p.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
		if isCode(err, "NoSuchEntity") {
			return deploy.Target{}, fmt.Errorf("IAM role %s does not exist: create it with mage aws:create", name)
		} else if err != nil {
			return deploy.Target{}, Explain(err)
		}
		p.roles[name] = sdk.ToString(out.Role.Arn)
	}
	img, err := p.registry(ctx)
	if err != nil {
		return deploy.Target{}, err
	}
	p.arn = id.Resource("ecs", p.Region, "service/"+p.Cluster+"/"+p.Service)
	svc, err := p.describe(ctx)
	if err != nil {
		return deploy.Target{}, err
	}
	runs := "not created yet: this deploy creates it"
	if svc != nil {
		p.before = active(svc)
		runs = "runs " + image(p.before)
	}
	p.say("preflight ok: %s in %s; ECR repository %s and IAM roles ready; service %s %s", id.ARN, p.Region, p.Repository, p.Service, runs)
	logs := fmt.Sprintf("the service's logs: https://console.aws.amazon.com/ecs/v2/clusters/%s/services/%s/logs?region=%s", p.Cluster, p.Service, p.Region)
	return deploy.Target{App: "service " + p.Service, Image: img, Logs: logs, Refused: settings.AWSRefused}, nil
}

// registry gets ECR's credentials, for the registry the token names.
func (p *Platform) registry(ctx context.Context) (registry.Image, error) {
	out, err := p.ECR.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return registry.Image{}, Explain(err)
	}
	if len(out.AuthorizationData) == 0 {
		return registry.Image{}, errors.New("ECR gave no authorization token: try again, or check ECR's status in the AWS Health Dashboard")
	}
	auth := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(sdk.ToString(auth.AuthorizationToken))
	user, pass, ok := strings.Cut(string(raw), ":")
	host := sdk.ToString(auth.ProxyEndpoint)
	if u, perr := url.Parse(host); perr == nil && u.Host != "" {
		host = u.Host
	}
	if err != nil || !ok || host == "" {
		return registry.Image{}, errors.New("ECR's authorization token is not base64 user:password for a registry: try again")
	}
	p.repository = host + "/" + p.Repository
	return registry.Image{Ref: p.repository + ":latest", User: user, Password: pass}, nil
}

// describe returns the service, or nil when there is none (or only a deleted one).
func (p *Platform) describe(ctx context.Context) (*types.ECSExpressGatewayService, error) {
	out, err := p.ECS.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: &p.arn})
	switch {
	case isCode(err, "ServiceNotFoundException", "ResourceNotFoundException"):
		return nil, nil
	case err != nil:
		return nil, Explain(err)
	case out.Service.Status != nil && out.Service.Status.StatusCode == types.ExpressGatewayServiceStatusCodeInactive:
		return nil, nil
	case out.Service.Status != nil && out.Service.Status.StatusCode == types.ExpressGatewayServiceStatusCodeDraining:
		return nil, fmt.Errorf("service %s is being deleted: wait until it is gone, then deploy again", p.Service)
	}
	return out.Service, nil
}

// active is the service's configuration in force: the newest active one.
func active(svc *types.ECSExpressGatewayService) *types.ExpressGatewayServiceConfiguration {
	if len(svc.ActiveConfigurations) == 0 {
		return nil
	}
	newest := slices.MaxFunc(svc.ActiveConfigurations, func(a, b types.ExpressGatewayServiceConfiguration) int {
		return sdk.ToTime(a.CreatedAt).Compare(sdk.ToTime(b.CreatedAt))
	})
	return &newest
}

// image is what a configuration runs.
func image(c *types.ExpressGatewayServiceConfiguration) string {
	if c == nil || c.PrimaryContainer == nil {
		return "nothing"
	}
	return sdk.ToString(c.PrimaryContainer.Image)
}

// Release creates the service with the image Copy wrote, by digest, or
// updates the service to it; it changes nothing when the service runs it.
func (p *Platform) Release(ctx context.Context, img registry.Copied) (string, bool, error) {
	ref := p.repository + "@" + img.Digest
	if image(p.before) == ref {
		p.say("service %s already runs %s: nothing to deploy", p.Service, img.Digest)
		return "service " + p.Service, false, nil
	}
	var err error
	if p.known, err = p.deployments(ctx); err != nil {
		return "", false, err
	}
	if p.before == nil {
		err = p.create(ctx, ref)
	} else {
		err = p.update(ctx, p.before, ref)
	}
	// Whatever the answer, the deployments say what happened: a lost answer may hide one.
	arn, listErr := p.awaitDeployment(ctx, err == nil)
	switch {
	case ctx.Err() != nil:
		return "", false, ctx.Err()
	case err != nil && arn == "":
		return "", false, fmt.Errorf("releasing: %w; nothing was deployed", err)
	case err != nil:
		p.say("the request failed (%v), but ECS started %s: following it", err, name(arn))
	case listErr != nil:
		return "", false, fmt.Errorf("releasing: %w; see aws ecs list-service-deployments --cluster %s --service %s", listErr, p.Cluster, p.Service)
	}
	p.deployment = arn
	return name(arn), true, nil
}

// name is how messages name a service deployment: its ID.
func name(arn string) string { return "deployment " + path.Base(arn) }

func (p *Platform) create(ctx context.Context, ref string) error {
	env := make([]types.KeyValuePair, 0, len(p.Environment))
	for _, k := range slices.Sorted(maps.Keys(p.Environment)) {
		env = append(env, types.KeyValuePair{Name: sdk.String(k), Value: sdk.String(p.Environment[k])})
	}
	out, err := p.ECS.CreateExpressGatewayService(ctx, &ecs.CreateExpressGatewayServiceInput{
		ServiceName:           &p.Service,
		Cluster:               &p.Cluster,
		ExecutionRoleArn:      sdk.String(p.roles[p.ExecutionRole]),
		InfrastructureRoleArn: sdk.String(p.roles[p.InfrastructureRole]),
		HealthCheckPath:       sdk.String("/healthz"),
		CpuArchitecture:       types.ExpressCpuArchitectureX8664,
		PrimaryContainer:      &types.ExpressGatewayContainer{Image: &ref, ContainerPort: &p.Port, Environment: env},
	})
	if err != nil {
		return Explain(err)
	}
	p.arn = cmp.Or(sdk.ToString(out.Service.ServiceArn), p.arn)
	p.say("created service %s with %s", p.Service, ref)
	return nil
}

// update puts ref in place of the image of c, keeping the rest of c.
func (p *Platform) update(ctx context.Context, c *types.ExpressGatewayServiceConfiguration, ref string) error {
	container := *c.PrimaryContainer
	container.Image = &ref
	_, err := p.ECS.UpdateExpressGatewayService(ctx, &ecs.UpdateExpressGatewayServiceInput{ServiceArn: &p.arn, PrimaryContainer: &container})
	if err != nil {
		return Explain(err)
	}
	p.say("updating service %s to %s", p.Service, ref)
	return nil
}

// deployments returns the ARNs of the service's deployments, none for a new service.
func (p *Platform) deployments(ctx context.Context) (map[string]bool, error) {
	arns := map[string]bool{}
	if p.before == nil {
		if svc, err := p.describe(ctx); svc == nil || err != nil {
			return arns, err
		}
	}
	in := &ecs.ListServiceDeploymentsInput{Service: &p.arn, Cluster: &p.Cluster}
	for {
		page, err := p.ECS.ListServiceDeployments(ctx, in)
		if err != nil {
			return nil, Explain(err)
		}
		for _, d := range page.ServiceDeployments {
			arns[sdk.ToString(d.ServiceDeploymentArn)] = true
		}
		if in.NextToken = page.NextToken; in.NextToken == nil {
			return arns, nil
		}
	}
}

// awaitDeployment returns the deployment that is not among those known
// before, waiting up to a minute for it when one is expected, else
// looking once. "" means there is none.
func (p *Platform) awaitDeployment(ctx context.Context, expected bool) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		now, err := p.deployments(ctx)
		for arn := range now {
			if !p.known[arn] {
				return arn, nil
			}
		}
		switch {
		case err != nil || !expected:
			return "", err
		case time.Now().After(deadline):
			return "", errors.New("ECS accepted the request but lists no new service deployment after a minute")
		}
		if err := sleep(ctx, p.pollInterval()); err != nil {
			return "", err
		}
	}
}

func (p *Platform) pollInterval() time.Duration { return cmp.Or(p.PollInterval, 5*time.Second) }
func (p *Platform) timeout() time.Duration      { return cmp.Or(p.Timeout, 20*time.Minute) }

// Follow waits for the deployment to end, printing its status as it changes.
func (p *Platform) Follow(ctx context.Context) error {
	d, err := p.await(ctx, p.deployment)
	switch {
	case err != nil:
		return err
	case d.Status != types.ServiceDeploymentStatusSuccessful:
		return fmt.Errorf("%s ended %s: %s", name(p.deployment), d.Status, cmp.Or(sdk.ToString(d.StatusReason), "ECS gave no reason"))
	}
	return nil
}

// ended are the statuses after which a deployment changes no more.
var ended = []types.ServiceDeploymentStatus{
	types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentStatusStopped,
	types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed,
}

// errSlow ends a wait for a deployment that takes too long.
var errSlow = errors.New("too slow")

// await polls deployment arn until it ends, and returns it as last seen.
func (p *Platform) await(ctx context.Context, arn string) (types.ServiceDeployment, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout(), errSlow)
	defer cancel()
	var last types.ServiceDeploymentStatus
	for {
		d, err := p.describeDeployment(ctx, arn)
		switch {
		case errors.Is(context.Cause(ctx), errSlow):
			return d, fmt.Errorf("%s is still %s after %s", name(arn), last, p.timeout())
		case ctx.Err() != nil:
			return d, ctx.Err()
		case err != nil:
			return d, err
		case d.Status != last:
			last = d.Status
			p.say("%s %s", name(arn), last)
		}
		if slices.Contains(ended, last) {
			return d, nil
		}
		_ = sleep(ctx, p.pollInterval()) // an end of ctx is seen above
	}
}

func (p *Platform) describeDeployment(ctx context.Context, arn string) (types.ServiceDeployment, error) {
	out, err := p.ECS.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	switch {
	case err != nil:
		return types.ServiceDeployment{}, Explain(err)
	case len(out.ServiceDeployments) == 0:
		return types.ServiceDeployment{}, fmt.Errorf("ECS does not know %s: see aws ecs list-service-deployments --cluster %s --service %s",
			name(arn), p.Cluster, p.Service)
	}
	return out.ServiceDeployments[0], nil
}

// URL is the service's public endpoint, over HTTPS unless it names its scheme.
func (p *Platform) URL(ctx context.Context) (string, error) {
	if p.url != "" {
		return p.url, nil
	}
	svc, err := p.describe(ctx)
	if err != nil || svc == nil {
		return "", cmp.Or(err, fmt.Errorf("service %s is gone", p.Service))
	}
	for _, c := range svc.ActiveConfigurations {
		for _, in := range c.IngressPaths {
			if e := sdk.ToString(in.Endpoint); e != "" && (p.url == "" || in.AccessType == types.AccessTypePublic) {
				p.url = e
			}
		}
	}
	if p.url != "" && !strings.Contains(p.url, "://") {
		p.url = "https://" + p.url
	}
	return p.url, nil
}

// Rollback returns the service to what it ran before. A deployment still
// running is stopped with rollback, and one ECS rolled back is left as it
// is; after a deployment ECS called successful, the service is updated
// back to the image it ran before.
func (p *Platform) Rollback(ctx context.Context, wait bool) (string, error) {
	if p.deployment == "" && p.known == nil {
		return "nothing was asked of ECS: service " + p.Service + " runs what it ran before", nil
	}
	if p.deployment == "" { // the release was interrupted: did ECS start one?
		arn, err := p.awaitDeployment(ctx, false)
		switch {
		case err != nil:
			return "", fmt.Errorf("whether ECS started a deployment is unknown (%w): check with aws ecs list-service-deployments --cluster %s --service %s",
				err, p.Cluster, p.Service)
		case arn == "":
			return "ECS started no deployment: service " + p.Service + " runs what it ran before", nil
		}
		p.deployment = arn
	}
	d, err := p.describeDeployment(ctx, p.deployment)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w%s", err, p.byHand())
	case d.Status == types.ServiceDeploymentStatusRollbackSuccessful:
		return fmt.Sprintf("ECS rolled back %s: service %s runs what it ran before", name(p.deployment), p.Service), nil
	case d.Status == types.ServiceDeploymentStatusPending || d.Status == types.ServiceDeploymentStatusInProgress:
		return p.stop(ctx, wait)
	case p.before == nil:
		return "", fmt.Errorf("service %s is new, so it has no earlier image to go back to: if it must not run this one, "+
			"delete it with aws ecs delete-express-gateway-service --service-arn %s", p.Service, p.arn)
	}
	p.known[p.deployment] = true
	if err := p.update(ctx, p.before, image(p.before)); err != nil {
		return "", fmt.Errorf("%w%s", err, p.byHand())
	}
	if !wait {
		return fmt.Sprintf("rolling back: service %s is being updated back to %s, which ran before this deploy; follow it with "+
			"aws ecs list-service-deployments --cluster %s --service %s", p.Service, image(p.before), p.Cluster, p.Service), nil
	}
	arn, err := p.awaitDeployment(ctx, true)
	if err != nil {
		return "", fmt.Errorf("rolling back: %w%s", err, p.byHand())
	}
	what := fmt.Sprintf("%s (back to %s, which ran before this deploy)", name(arn), image(p.before))
	p.say("rolling back: %s", what)
	if d, err = p.await(ctx, arn); err == nil && d.Status != types.ServiceDeploymentStatusSuccessful {
		err = fmt.Errorf("%s ended %s: %s", name(arn), d.Status, sdk.ToString(d.StatusReason))
	}
	if err != nil {
		return "", fmt.Errorf("rolling back: %w; the service may run a broken image%s", err, p.byHand())
	}
	return "rolled back: " + what + " succeeded; the service runs what it ran before", nil
}

// stop stops the running deployment with rollback.
func (p *Platform) stop(ctx context.Context, wait bool) (string, error) {
	_, err := p.ECS.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: &p.deployment, StopType: types.StopServiceDeploymentStopTypeRollback,
	})
	if err != nil {
		return "", fmt.Errorf("stopping %s: %w; stop it with aws ecs stop-service-deployment --service-deployment-arn %s --stop-type ROLLBACK",
			name(p.deployment), Explain(err), p.deployment)
	}
	if !wait {
		return fmt.Sprintf("rolling back: ECS is stopping %s and returning to what ran before; follow it with %s",
			name(p.deployment), p.describeCommand(p.deployment)), nil
	}
	d, err := p.await(ctx, p.deployment)
	if err == nil && d.Status != types.ServiceDeploymentStatusRollbackSuccessful && d.Status != types.ServiceDeploymentStatusStopped {
		err = fmt.Errorf("it ended %s: %s", d.Status, sdk.ToString(d.StatusReason))
	}
	if err != nil {
		return "", fmt.Errorf("stopping %s with rollback: %w%s", name(p.deployment), err, p.byHand())
	}
	return fmt.Sprintf("rolled back: ECS stopped %s (%s); service %s runs what it ran before", name(p.deployment), d.Status, p.Service), nil
}

func (p *Platform) describeCommand(arn string) string {
	return "aws ecs describe-service-deployments --service-deployment-arns " + arn
}

// byHand is how to roll back by hand, when there is something to go back to.
func (p *Platform) byHand() string {
	if p.before == nil {
		return ""
	}
	return fmt.Sprintf(", and roll back by hand with aws ecs update-express-gateway-service --service-arn %s "+
		`--primary-container '{"image":%q,"containerPort":%d}'`, p.arn, image(p.before), sdk.ToInt32(p.before.PrimaryContainer.ContainerPort))
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
