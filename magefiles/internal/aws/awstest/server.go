// Package awstest provides a fake of the AWS APIs a deploy to ECS Express
// Mode uses (STS, IAM, ECR and ECS) for tests, in the manner of
// net/http/httptest: NewServer starts it on a loopback port, and the AWS
// SDK reaches all four services there through AWS_ENDPOINT_URL (see Env).
//
// It speaks the services' own wire protocols as aws-sdk-go-v2 does: AWS
// JSON 1.1 for ECS and ECR (X-Amz-Target, epoch-second timestamps, errors
// in X-Amzn-ErrorType and {"__type","message"}) and the AWS Query protocol
// for STS and IAM (form bodies, XML answers and ErrorResponse documents).
// Every request but STS AssumeRoleWithWebIdentity must carry a valid
// Signature Version 4, which the fake checks itself from the published
// algorithm. It accepts the long-lived key AccessKeyID and the temporary
// credentials that AssumeRoleWithWebIdentity issues for WebIdentityToken.
//
// ECR stands for a real registry (testenv.StartRegistry): its
// authorization token is that registry's password. ECS deployments run for
// real on a Docker engine: the fake pulls the image from the registry,
// starts a container, waits for its health check, and points a per-service
// reverse proxy (the service's endpoint, standing for the load balancer)
// at it; a container that fails makes ECS roll back.
//
// Tests script it: PlanDeployment decides how the next deployment ends
// (rolled back by the circuit breaker, successful but not serving, or held
// in progress until Finish), Fail injects error answers such as
// ThrottlingException, ExpireSessions expires the temporary credentials
// issued so far, and Requests returns what it received.
package awstest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// The fake's account, region and credentials.
const (
	// AccessKeyID is the long-lived access key the fake accepts, the key
	// of the IAM user deployer (UserArn).
	AccessKeyID = "AKIAOCLETTINGS000001"
	// SecretAccessKey is the secret of AccessKeyID.
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYOCLETTINGS" //nolint:gosec // G101: a test secret, public on purpose
	// Account is the AWS account ID everything belongs to.
	Account = "123456789012"
	// Region is the region of the fake's services, and the one requests
	// must be signed for (IAM's may also be signed for us-east-1).
	Region = "eu-west-3"
	// UserArn is the identity of AccessKeyID.
	UserArn = "arn:aws:iam::" + Account + ":user/deployer"
	// WebIdentityToken is the OpenID Connect token, in the form of the
	// ID tokens CircleCI gives jobs, that AssumeRoleWithWebIdentity
	// accepts. Its issuer is the provider OIDCProviderArn names.
	WebIdentityToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImF3c3Rlc3QiLCJ0eXAiOiJKV1QifQ." +
		"eyJhdWQiOiIwZjZjMmMzZS01YTdiLTRkMWUtOWM4Zi0yYjFhM2Q0ZTVmNjAiLCJpc3MiOiJodHRwczovL29pZGMuY2lyY2xlY2kuY29tL29yZy8wZjZjMmMzZS01YTdiLTRkMWUtOWM4Zi0yYjFhM2Q0ZTVmNjAiLCJzdWIiOiJvcmcvMGY2YzJjM2UtNWE3Yi00ZDFlLTljOGYtMmIxYTNkNGU1ZjYwL3Byb2plY3QvN2ExYjljMmQtM2U0Zi00YTViLThjNmQtN2U4ZjlhMGIxYzJkL3VzZXIvM2MyZDFlMGYtOWE4Yi00YzdkLThlNmYtNWE0YjNjMmQxZTBmIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjQxMDI0NDQ4MDB9." +
		"yttT37xIY8EIZr4PdSZhLVWMevOvLnu8BVPaVHqh3ekm3LqdPXY7jDgG8aTXruL9G7TFxq9CcyXAWx1zUQOKEg"
	// OIDCProviderArn is the IAM OIDC identity provider of
	// WebIdentityToken's issuer, the Federated principal a role's trust
	// policy names to let the token assume it.
	OIDCProviderArn = "arn:aws:iam::" + Account + ":oidc-provider/oidc.circleci.com/org/0f6c2c3e-5a7b-4d1e-9c8f-2b1a3d4e5f60"
)

// Options configure a Server.
type Options struct {
	// Registry is the real registry ECR stands for, as the ECR user sees
	// it: User must be "AWS" (start it with
	// testenv.WithUser("AWS", password), or use StartRegistry).
	// GetAuthorizationToken answers base64("AWS:"+Password) and the
	// proxy endpoint http://<Host>; repository URIs are <Host>/<name>.
	Registry testenv.Registry
	// Docker is the engine that runs the services' containers. Required.
	Docker *client.Client
}

// A Server is a fake of STS, IAM, ECR and ECS. Its URL, from the
// httptest.Server, is the endpoint of all four; Close shuts it down and
// removes the containers and images it made.
type Server struct {
	*httptest.Server
	// HealthTimeout is how long a deployment waits for its container to
	// answer 200 to the health check before ECS rolls it back. Set it
	// before making deployments; the default is 20 seconds.
	HealthTimeout time.Duration

	opts     Options
	id       string // the value of ContainerLabel on this server's containers
	dir      string // holds the empty AWS config files of Env
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	close    sync.Once
	mu       sync.Mutex
	sessions map[string]*session // by access key ID
	roles    []*role
	repos    []*repo
	services map[string]*service // by ARN
	deploys  map[string]*deployment
	plans    []Plan
	release  chan struct{} // closed by Finish
	pulled   map[string]bool
	faults   []Fault
	requests []Request
}

// ContainerLabel labels the containers a Server starts; its value is
// particular to the server.
const ContainerLabel = "oc-lettings.awstest"

// Fault scripts an error answer to matching requests.
type Fault struct {
	Service string // ecs, ecr, sts or iam; empty matches any
	Action  string // e.g. UpdateExpressGatewayService; empty matches any
	// Code is the error code: ThrottlingException, AccessDeniedException...
	// The default is ThrottlingException for ECS and ECR, Throttling for
	// STS and IAM.
	Code    string
	Message string // default "Rate exceeded"
	Status  int    // default 400
	Times   int    // how many requests it answers; default 1
	// Processed makes the request take effect before the error is
	// answered: an answer lost after the work was done.
	Processed bool
}

// Request is a request the fake received.
type Request struct {
	Service     string // ecs, ecr, sts or iam; "" when not recognized
	Action      string
	AccessKeyID string // from the signature's credential; "" if unsigned
	Status      int    // the status the fake answered
	Code        string // the error code answered, if any
	Body        string // the raw request body
}

// String formats the request as "service Action -> status".
func (r Request) String() string {
	return fmt.Sprintf("%s %s -> %d %s", r.Service, r.Action, r.Status, r.Code)
}

// NewServer starts a fake for the duration of the test.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Docker == nil {
		t.Fatal("awstest: Options.Docker is required")
	}
	if o.Registry.Host == "" || o.Registry.User != "AWS" {
		t.Fatalf("awstest: Options.Registry must be a registry whose User is AWS, not %q at %q", o.Registry.User, o.Registry.Host)
	}
	s := &Server{
		HealthTimeout: 20 * time.Second,
		opts:          o, id: testenv.Unique(t, "awstest-"), dir: t.TempDir(),
		sessions: map[string]*session{}, services: map[string]*service{},
		deploys: map[string]*deployment{}, release: make(chan struct{}), pulled: map[string]bool{},
	}
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(s.dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// StartRegistry starts a real registry (testenv.StartRegistry) and returns
// it as ECR's user sees it, for Options.Registry: user AWS with its
// password.
func StartRegistry(t testing.TB) *testenv.Registry {
	t.Helper()
	password := testenv.Unique(t, "ecr-")
	r := *testenv.StartRegistry(t, testenv.WithUser("AWS", password))
	r.User, r.Password = "AWS", password
	return &r
}

// Env returns the environment that points the SDK's default configuration
// (config.LoadDefaultConfig) at the fake with the long-lived key, and
// isolates it from the host's. AWS_ENDPOINT_URL_STS repeats
// AWS_ENDPOINT_URL for the STS client of the SDK's web identity provider
// (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), which LoadDefaultConfig
// makes before it reads AWS_ENDPOINT_URL. AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE name empty files, the instance metadata
// service is disabled, and AWS_PROFILE, AWS_DEFAULT_PROFILE,
// AWS_SESSION_TOKEN and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS are empty,
// which the SDK takes as unset.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":                    s.URL,
		"AWS_ENDPOINT_URL_STS":                s.URL,
		"AWS_REGION":                          Region,
		"AWS_ACCESS_KEY_ID":                   AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":               SecretAccessKey,
		"AWS_SESSION_TOKEN":                   "",
		"AWS_PROFILE":                         "",
		"AWS_DEFAULT_PROFILE":                 "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
		"AWS_EC2_METADATA_DISABLED":           "true",
		"AWS_CONFIG_FILE":                     filepath.Join(s.dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":         filepath.Join(s.dir, "credentials"),
	}
}

// Fail makes the fake answer matching requests with an error, after
// checking their signature and before any fault added later.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Times = cmp.Or(f.Times, 1)
	s.faults = append(s.faults, f)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ExpireSessions expires every temporary credential issued so far: requests
// signed with them get ExpiredToken (ExpiredTokenException from ECS and
// ECR).
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.expires = time.Now().Add(-time.Second)
	}
}

// Close stops the deployments under way, removes the containers and the
// pulled images, and shuts the fake down. It is safe to call twice.
func (s *Server) Close() {
	s.close.Do(func() {
		s.Server.Close() // no request starts work any more
		s.cancel()
		s.wg.Wait()
		s.mu.Lock()
		for _, svc := range s.services {
			_ = svc.proxy.Close()
		}
		pulled := slices.Collect(maps.Keys(s.pulled))
		s.mu.Unlock()
		s.removeAll(pulled)
	})
}

// A call is a request being answered: the action and its parameters.
type call struct {
	service, action string
	json            bool       // AWS JSON 1.1, else the Query protocol
	body            []byte     // the JSON of ECS and ECR requests
	form            url.Values // the parameters of STS and IAM requests
	caller          *principal // nil for unsigned requests
}

// An apiError is an error answer: an AWS error code and message.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// isJSON reports whether the service speaks AWS JSON 1.1 (else Query).
func isJSON(service string) bool { return service == "ecs" || service == "ecr" }

// serve identifies, records, authenticates and answers every request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body := []byte(testenv.ReadBody(r))
	cred := parseAuthorization(r.Header.Get("Authorization"))
	c, err := identify(r, body)
	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, Request{Service: c.service, Action: c.action, AccessKeyID: cred.accessKey, Body: string(body)})
	out, err := s.answer(r, c, cred, err)
	s.mu.Unlock()
	status, code := s.write(w, c, out, err)
	s.mu.Lock()
	s.requests[i].Status, s.requests[i].Code = status, code
	s.mu.Unlock()
}

// answer checks the signature of c (but for AssumeRoleWithWebIdentity,
// which is unsigned), runs it and applies any fault; s.mu is held.
func (s *Server) answer(r *http.Request, c *call, cred credential, err error) (any, error) {
	if err == nil && (c.service != "sts" || c.action != "AssumeRoleWithWebIdentity") {
		c.caller, err = s.authenticate(r, c.body, c.service, cred)
	}
	if err != nil {
		return nil, err
	}
	fault, faulty := s.fault(c)
	if !faulty {
		return s.dispatch(c)
	}
	if fault.Processed {
		_, _ = s.dispatch(c)
	}
	return nil, fault.error(c.service)
}

// fault returns the first scripted fault c matches, using it up.
func (s *Server) fault(c *call) (Fault, bool) {
	for i, f := range s.faults {
		if (f.Service == "" || f.Service == c.service) && (f.Action == "" || f.Action == c.action) {
			if s.faults[i].Times--; s.faults[i].Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f, true
		}
	}
	return Fault{}, false
}

func (f Fault) error(service string) *apiError {
	code := f.Code
	if code == "" {
		code = map[bool]string{true: "ThrottlingException", false: "Throttling"}[isJSON(service)]
	}
	return &apiError{status: cmp.Or(f.Status, http.StatusBadRequest), code: code, message: cmp.Or(f.Message, "Rate exceeded")}
}

// dispatch runs the action's handler; s.mu is held.
func (s *Server) dispatch(c *call) (any, error) {
	h, ok := handlers[c.service][c.action]
	if !ok {
		if c.json {
			return nil, errorf(http.StatusBadRequest, "UnknownOperationException", "")
		}
		return nil, errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", c.action, c.form.Get("Version"))
	}
	return h(s, c)
}

var handlers = map[string]map[string]func(*Server, *call) (any, error){
	"sts": {
		"GetCallerIdentity":         (*Server).getCallerIdentity,
		"AssumeRoleWithWebIdentity": (*Server).assumeRoleWithWebIdentity,
	},
	"iam": {
		"GetRole":                  (*Server).getRole,
		"CreateRole":               (*Server).createRole,
		"AttachRolePolicy":         (*Server).attachRolePolicy,
		"ListAttachedRolePolicies": (*Server).listAttachedRolePolicies,
	},
	"ecr": {
		"GetAuthorizationToken": (*Server).getAuthorizationToken,
		"DescribeRepositories":  (*Server).describeRepositories,
		"CreateRepository":      (*Server).createRepository,
	},
	"ecs": {
		"CreateExpressGatewayService":   (*Server).createExpressGatewayService,
		"DescribeExpressGatewayService": (*Server).describeExpressGatewayService,
		"UpdateExpressGatewayService":   (*Server).updateExpressGatewayService,
		"DeleteExpressGatewayService":   (*Server).deleteExpressGatewayService,
		"ListServiceDeployments":        (*Server).listServiceDeployments,
		"DescribeServiceDeployments":    (*Server).describeServiceDeployments,
		"StopServiceDeployment":         (*Server).stopServiceDeployment,
	},
}

// The X-Amz-Target prefixes and Query API versions of the services.
var (
	targets  = map[string]string{"AmazonEC2ContainerServiceV20141113": "ecs", "AmazonEC2ContainerRegistry_V20150921": "ecr"}
	versions = map[string]string{"2011-06-15": "sts", "2010-05-08": "iam"}
	xmlns    = map[string]string{"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
)

// identify finds the service and action of r: by X-Amz-Target for the
// JSON services, by the Version and Action parameters for the Query ones.
func identify(r *http.Request, body []byte) (*call, error) {
	c := &call{body: body}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, action, _ := strings.Cut(target, ".")
		c.service, c.action, c.json = targets[prefix], action, true
		switch {
		case c.service == "":
			return c, errorf(http.StatusBadRequest, "UnknownOperationException", "")
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
			return c, errorf(http.StatusBadRequest, "SerializationException", "Requests must be POSTed as application/x-amz-json-1.1")
		}
		return c, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return c, errorf(http.StatusBadRequest, "MalformedQueryString", "The request must be a form POST")
	}
	c.form, c.action, c.service = form, form.Get("Action"), versions[form.Get("Version")]
	if c.service == "" {
		return c, errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", c.action, form.Get("Version"))
	}
	return c, nil
}

// write answers out or err in the protocol of c's service, and returns the
// status and error code answered.
func (s *Server) write(w http.ResponseWriter, c *call, out any, err error) (int, string) {
	requestID := newUUID()
	status, code := http.StatusOK, ""
	e, _ := err.(*apiError) //nolint:errorlint // handlers return *apiError itself
	if err != nil && e == nil {
		e = errorf(http.StatusInternalServerError, "InternalFailure", "%v", err)
	}
	if e != nil {
		status, code = e.status, e.code
	}
	var buf bytes.Buffer
	w.Header().Set("X-Amzn-Requestid", requestID)
	if c.json {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if e != nil {
			w.Header().Set("X-Amzn-Errortype", e.code)
			out = map[string]string{"__type": e.code, "message": e.message}
		}
		_ = json.NewEncoder(&buf).Encode(cmp.Or[any](out, struct{}{}))
	} else {
		w.Header().Set("Content-Type", "text/xml")
		buf.WriteString(xml.Header)
		enc := xml.NewEncoder(&buf)
		if e != nil {
			kind := map[bool]string{true: "Receiver", false: "Sender"}[e.status >= 500]
			_ = enc.Encode(errorResponse{Xmlns: xmlns[c.service], Type: kind, Code: e.code, Message: e.message, RequestID: requestID})
		} else {
			start := xml.StartElement{Name: xml.Name{Local: c.action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns[c.service]}}}
			_ = enc.EncodeToken(start)
			if out != nil {
				_ = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: c.action + "Result"}})
			}
			_ = enc.Encode(responseMetadata{RequestID: requestID})
			_ = enc.EncodeToken(start.End())
			_ = enc.Flush()
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return status, code
}

type responseMetadata struct {
	XMLName   xml.Name `xml:"ResponseMetadata"`
	RequestID string   `xml:"RequestId"`
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// newID returns n random characters from alphabet.
func newID(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits      = "0123456789"
	hexDigits   = "0123456789abcdef"
)

func newUUID() string {
	h := newID(32, hexDigits)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
