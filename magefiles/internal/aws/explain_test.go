package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

func TestExplain(t *testing.T) {
	apiError := func(code, msg string) error {
		return &smithy.OperationError{
			ServiceID: "ECS", OperationName: "UpdateExpressGatewayService",
			Err: &smithy.GenericAPIError{Code: code, Message: msg},
		}
	}
	for _, tc := range []struct {
		err  error
		want []string // what the message must say
	}{
		{
			apiError("AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "+
				"ecs:UpdateExpressGatewayService on resource: arn:aws:ecs:eu-west-3:123456789012:service/default/web because no identity-based policy allows it"),
			[]string{"ECS UpdateExpressGatewayService: AWS answered AccessDeniedException", "grant ecs:UpdateExpressGatewayService to the deploy role"},
		},
		{apiError("AccessDeniedException", "Access denied"), []string{"the credentials lack a permission"}},
		{
			apiError("ExpiredTokenException", "The security token included in the request is expired"),
			[]string{"AWS answered ExpiredTokenException", "log in again", "rerun the job"},
		},
		{
			apiError("UnrecognizedClientException", "The security token included in the request is invalid."),
			[]string{"check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		},
		{apiError("InvalidIdentityToken", "Incorrect token audience"), []string{"STS refused CircleCI's OIDC token", "trust policy"}},
		{apiError("ThrottlingException", "Rate exceeded"), []string{"throttling", "still after retries"}},
		{
			apiError("InvalidParameterException", "The image is not valid"),
			[]string{"ECS UpdateExpressGatewayService: AWS answered InvalidParameterException: The image is not valid"},
		},
		{
			errors.New("get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found"),
			[]string{"no AWS credentials", "AWS_PROFILE", "AWS_ROLE_ARN"},
		},
	} {
		got := Explain(tc.err)
		if !errors.Is(got, tc.err) {
			t.Errorf("Explain(%v) does not wrap the error", tc.err)
		}
		for _, want := range tc.want {
			if !strings.Contains(got.Error(), want) {
				t.Errorf("Explain(%v) = %q, want it to say %q", tc.err, got, want)
			}
		}
	}
	if Explain(nil) != nil || !errors.Is(Explain(context.Canceled), context.Canceled) {
		t.Error("Explain must leave nil and a cancellation alone")
	}
}
