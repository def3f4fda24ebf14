//go:build mage

package main

import (
	"cmp"
	"context"
	"fmt"
	"io"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// AWS prepares the AWS account the site is deployed to.
type AWS mg.Namespace

// Create makes the ECR repository and IAM roles of an ECS Express service, where missing.
//
// It needs AWS_REGION, ECS_SERVICE_NAME and AWS credentials (the SDK's
// chain: keys, AWS_PROFILE, SSO; or AWS_ROLE_ARN with CircleCI's
// CIRCLE_OIDC_TOKEN_V2), and no Docker. It creates ECR_REPOSITORY (default
// IMAGE_NAME) with scanning on push and mutable tags, ECS_EXECUTION_ROLE
// (default ecsTaskExecutionRole) and ECS_INFRASTRUCTURE_ROLE (default
// ecsInfrastructureRoleForExpressServices) with their trust policies and
// AWS-managed policies, and prints what it created and what existed.
// Running it again changes nothing. The service itself is created by the
// first mage deploy with DEPLOY_PLATFORM=aws, once there is an image.
func (AWS) Create(ctx context.Context) error {
	vals, err := load(settings.AWSCreate)
	if err != nil {
		return err
	}
	red := newRunner().Redactor
	clients, err := awsClients(ctx, vals)
	if err != nil {
		return red.Error(err)
	}
	done, err := clients.Create(ctx, awsResources(vals))
	for _, line := range done {
		fmt.Println(line)
	}
	if err != nil {
		return red.Error(err)
	}
	fmt.Printf("deploy with DEPLOY_PLATFORM=aws mage deploy: its first run creates service %s in %s\n",
		vals.Get(settings.ECSServiceName), clients.Region)
	return nil
}

// awsClients are the AWS APIs as the settings and the SDK's chain reach them.
func awsClients(ctx context.Context, vals settings.Values) (*aws.Clients, error) {
	return aws.Connect(ctx, aws.Config{
		Region: vals.Get(settings.AWSRegion), RoleARN: vals.Get(settings.AWSRoleARN), OIDCToken: vals.Get(settings.CircleOIDCToken),
	})
}

func awsResources(vals settings.Values) aws.Resources {
	return aws.Resources{
		Repository:         cmp.Or(vals.Get(settings.ECRRepository), vals.Get(settings.ImageName)),
		ExecutionRole:      vals.Get(settings.ECSExecutionRole),
		InfrastructureRole: vals.Get(settings.ECSInfrastructureRole),
	}
}

// awsPlatform is ECS Express Mode as the settings describe it.
func awsPlatform(ctx context.Context, vals settings.Values, out io.Writer) (*aws.Platform, error) {
	clients, err := awsClients(ctx, vals)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, v := range []settings.Var{settings.SentryDSN, settings.SentryEnvironment} {
		if vals.IsSet(v) || vals.IsSet(settings.SentryDSN) {
			env[v.Name] = vals.Get(v)
		}
	}
	return &aws.Platform{
		Clients: clients, Resources: awsResources(vals),
		Service: vals.Get(settings.ECSServiceName), Cluster: vals.Get(settings.ECSCluster),
		Port: 8000, Environment: env, Out: out,
	}, nil
}
