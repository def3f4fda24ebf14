package aws

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Resources names what an Express service needs besides itself.
type Resources struct {
	Repository         string // ECR_REPOSITORY
	ExecutionRole      string // ECS_EXECUTION_ROLE: pulls the image, writes the logs
	InfrastructureRole string // ECS_INFRASTRUCTURE_ROLE: runs the load balancer and scaling
}

// FromSettings returns how to reach AWS, and the resources of the
// service, as vals say.
func FromSettings(vals settings.Values) (Config, Resources) {
	c := Config{Region: vals.Get(settings.AWSRegion), RoleARN: vals.Get(settings.AWSRoleARN), OIDCToken: vals.Get(settings.CircleOIDCToken)}
	r := Resources{
		Repository:         cmp.Or(vals.Get(settings.ECRRepository), vals.Get(settings.ImageName)),
		ExecutionRole:      vals.Get(settings.ECSExecutionRole),
		InfrastructureRole: vals.Get(settings.ECSInfrastructureRole),
	}
	return c, r
}

// A role an Express service needs: who may assume it, and the AWS-managed
// policy it carries.
type role struct {
	name, principal, policy string
}

func (r Resources) roles() []role {
	return []role{
		{r.ExecutionRole, "ecs-tasks.amazonaws.com", "service-role/AmazonECSTaskExecutionRolePolicy"},
		{r.InfrastructureRole, "ecs.amazonaws.com", "service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"},
	}
}

// trustPolicy lets principal assume a role.
func trustPolicy(principal string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + principal +
		`"},"Action":"sts:AssumeRole"}]}`
}

// Create makes what r names, where missing: the repository (scanned on
// push, tags mutable so that latest moves) and the roles, with their trust
// policies and managed policies. It returns one line per resource, saying
// whether it was created, completed or already there.
func (c *Clients) Create(ctx context.Context, r Resources) ([]string, error) {
	id, err := c.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	_, err = c.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{r.Repository}})
	switch {
	case isCode(err, "RepositoryNotFoundException"):
		_, err = c.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{
			RepositoryName:             &r.Repository,
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
			ImageTagMutability:         ecrtypes.ImageTagMutabilityMutable,
		})
		if err != nil {
			return done, Explain(err)
		}
		done = append(done, "created ECR repository "+r.Repository+" (scan on push, mutable tags)")
	case err != nil:
		return done, Explain(err)
	default:
		done = append(done, "ECR repository "+r.Repository+" exists")
	}
	for _, ro := range r.roles() {
		line, err := c.ensureRole(ctx, id, ro)
		if err != nil {
			return done, err
		}
		done = append(done, line)
	}
	return done, nil
}

// ensureRole creates ro when missing, and attaches its policy when not attached.
func (c *Clients) ensureRole(ctx context.Context, id Identity, ro role) (string, error) {
	policy := "arn:" + id.Partition + ":iam::aws:policy/" + ro.policy
	_, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &ro.name})
	created := isCode(err, "NoSuchEntity")
	switch {
	case created:
		_, err = c.IAM.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName:                 &ro.name,
			AssumeRolePolicyDocument: sdk.String(trustPolicy(ro.principal)),
			Description:              sdk.String("OC Lettings on ECS Express Mode, made by mage aws:create"),
		})
		if err != nil {
			return "", Explain(err)
		}
	case err != nil:
		return "", Explain(err)
	default:
		attached, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &ro.name})
		if err != nil {
			return "", Explain(err)
		}
		if slices.ContainsFunc(attached.AttachedPolicies, func(p iamtypes.AttachedPolicy) bool { return sdk.ToString(p.PolicyArn) == policy }) {
			return "IAM role " + ro.name + " exists, with " + ro.policy, nil
		}
	}
	if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: &ro.name, PolicyArn: &policy}); err != nil {
		return "", Explain(err)
	}
	if created {
		return fmt.Sprintf("created IAM role %s, trusting %s, with %s", ro.name, ro.principal, ro.policy), nil
	}
	return "IAM role " + ro.name + " exists; attached " + ro.policy, nil
}
