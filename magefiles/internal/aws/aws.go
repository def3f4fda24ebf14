// Package aws runs the site on Amazon ECS Express Mode: aws:create prepares
// an account (an ECR repository and the two IAM roles a service needs), and
// Platform is mage deploy's AWS side (see deploy.Platform).
//
// It talks to AWS through aws-sdk-go-v2 with the SDK's standard credential
// chain (keys, AWS_PROFILE, SSO), its endpoint overrides (AWS_ENDPOINT_URL
// and AWS_ENDPOINT_URL_<SERVICE>) and its retryer, bounded. In CircleCI,
// AWS_ROLE_ARN with the job's OIDC token assumes the role by web identity:
// the token is handed to STS from memory, never written to a file.
package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Config says how to reach AWS. The SDK reads the rest of its settings
// (keys, profile, endpoints) from the environment itself.
type Config struct {
	Region    string // AWS_REGION; empty: the profile's
	RoleARN   string // AWS_ROLE_ARN: with OIDCToken, the role assumed by web identity
	OIDCToken string // CIRCLE_OIDC_TOKEN_V2
	// MaxBackoff bounds the wait between retries of a throttled or failed
	// call; zero means 5 s. Each call is tried at most 5 times.
	MaxBackoff time.Duration
}

// Clients are the AWS APIs the pipeline calls, in one account and region.
type Clients struct {
	Region string
	STS    *sts.Client
	IAM    *iam.Client
	ECR    *ecr.Client
	ECS    *ecs.Client
}

// Connect loads the SDK's configuration with c, and makes the clients. It
// sends nothing: credentials are checked by the first call.
func Connect(ctx context.Context, c Config) (*Clients, error) {
	backoff := c.MaxBackoff
	if backoff <= 0 {
		backoff = 5 * time.Second
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(c.Region),
		config.WithRetryer(func() sdk.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts, o.MaxBackoff = 5, backoff
			})
		}))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the AWS configuration: %w: check AWS_PROFILE and ~/.aws/config", err)
	case cfg.Region == "":
		return nil, errors.New("no AWS region: set AWS_REGION, e.g. AWS_REGION=eu-west-3")
	}
	if c.RoleARN != "" && c.OIDCToken != "" {
		cfg.Credentials = sdk.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(
			sts.NewFromConfig(cfg), c.RoleARN, token(c.OIDCToken),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "oc-lettings-deploy" }))
	}
	return &Clients{
		Region: cfg.Region,
		STS:    sts.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg),
		ECR: ecr.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
	}, nil
}

// token is an OIDC token held in memory.
type token string

func (t token) GetIdentityToken() ([]byte, error) { return []byte(t), nil }

// Identity is who the credentials are.
type Identity struct {
	Account   string
	ARN       string
	Partition string // aws, or aws-cn, aws-us-gov
}

// WhoAmI asks STS who the credentials are.
func (c *Clients) WhoAmI(ctx context.Context) (Identity, error) {
	out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, Explain(err)
	}
	id := Identity{Account: sdk.ToString(out.Account), ARN: sdk.ToString(out.Arn), Partition: "aws"}
	if parts := strings.SplitN(id.ARN, ":", 3); len(parts) == 3 {
		id.Partition = parts[1]
	}
	return id, nil
}

// Resource returns the ARN of resource in service, in the account's
// partition; region is empty for IAM's.
func (id Identity) Resource(service, region, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", id.Partition, service, region, id.Account, resource)
}

// notAuthorized finds the action AWS names in an access denied message.
var notAuthorized = regexp.MustCompile(`not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)`)

// Explain turns an AWS error into one a user can act on: the code and
// AWS's message, and what to do about it.
func Explain(err error) error {
	var api smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case strings.Contains(err.Error(), "failed to refresh cached credentials") && !errors.As(err, &api):
		return fmt.Errorf("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "+
			"(after aws sso login), or in CircleCI AWS_ROLE_ARN with the job's OIDC token (%w)", err)
	case !errors.As(err, &api):
		return err
	}
	code, msg := api.ErrorCode(), api.ErrorMessage()
	var fix string
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		fix = "the credentials lack a permission: grant it to the deploy role or user (README.md lists them)"
		if m := notAuthorized.FindStringSubmatch(msg); m != nil {
			fix = "grant " + m[1] + " to the deploy role or user (README.md lists the permissions)"
		}
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired":
		fix = "the AWS session has expired: log in again (aws sso login, or new temporary keys); " +
			"in CircleCI, rerun the job for a fresh OIDC token"
	case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
		"InvalidSignatureException", "IncompleteSignature", "AuthFailure":
		fix = "AWS does not accept the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
			"(or AWS_PROFILE), and that the clock is right"
	case "InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError":
		fix = "STS refused CircleCI's OIDC token: check that AWS_ROLE_ARN's trust policy names CircleCI's " +
			"OIDC provider and this organization (README.md shows it)"
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
		fix = "AWS is throttling the account's requests, still after retries: try again in a minute"
	}
	e := &Error{Code: code, Message: msg, Fix: fix, Err: err}
	var op *smithy.OperationError
	if errors.As(err, &op) {
		e.Operation = op.ServiceID + " " + op.OperationName
	}
	return e
}

// Error is an AWS error with what to do about it.
type Error struct {
	Operation          string // e.g. "ECS CreateExpressGatewayService"
	Code, Message, Fix string
	Err                error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: AWS answered %s: %s", e.Operation, e.Code, strings.TrimSuffix(e.Message, "."))
	if e.Fix != "" {
		s += ": " + e.Fix
	}
	return strings.TrimPrefix(s, ": ")
}

func (e *Error) Unwrap() error { return e.Err }

// isCode reports whether err is an AWS error with one of codes.
func isCode(err error, codes ...string) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	for _, c := range codes {
		if api.ErrorCode() == c {
			return true
		}
	}
	return false
}
