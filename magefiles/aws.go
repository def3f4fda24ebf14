//go:build mage

package main

import (
	"context"
	"fmt"

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
	c, resources := aws.FromSettings(vals)
	clients, err := aws.Connect(ctx, c)
	if err != nil {
		return red.Error(err)
	}
	done, err := clients.Create(ctx, resources)
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
