package awstest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// STS and IAM: the AWS Query protocol. Handlers return the XML of the
// <Action>Result element, or nil for an action without one.

// Role is an IAM role as the fake holds it.
type Role struct {
	Name string
	// Arn is arn:aws:iam::<Account>:role/<path><name>; AddRole sets it
	// when empty.
	Arn string
	// TrustPolicy is the assume role policy document, as JSON. AddRole
	// sets one that lets WebIdentityToken assume the role when empty.
	TrustPolicy string
	Policies    []string // the ARNs of the attached managed policies
}

type role struct {
	Role
	id, path, description string
	maxSession            int
	created               time.Time
}

// AddRole adds a role, as if created earlier.
func (s *Server) AddRole(r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.TrustPolicy == "" {
		r.TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + OIDCProviderArn +
			`"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
	}
	s.addRole(r, "/", "", 3600)
}

func (s *Server) addRole(r Role, path, description string, maxSession int) *role {
	if s.role(r.Name) != nil {
		panic("awstest: the role " + r.Name + " exists")
	}
	if r.Arn == "" {
		r.Arn = "arn:aws:iam::" + Account + ":role" + path + r.Name
	}
	r.Policies = slices.Clone(r.Policies)
	ro := &role{Role: r, id: "AROA" + newID(17, upperDigits), path: path, description: description, maxSession: maxSession, created: time.Now().UTC()}
	s.roles = append(s.roles, ro)
	return ro
}

// Role returns the role named name, as the fake now holds it.
func (s *Server) Role(name string) (Role, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.role(name); r != nil {
		out := r.Role
		out.Policies = slices.Clone(r.Policies)
		return out, true
	}
	return Role{}, false
}

func (s *Server) role(name string) *role {
	for _, r := range s.roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (s *Server) roleByArn(arn string) *role {
	for _, r := range s.roles {
		if r.Arn == arn {
			return r
		}
	}
	return nil
}

// required returns the named parameters, or the ValidationError AWS
// answers for the first one missing.
func (c *call) required(names ...string) ([]string, error) {
	values := make([]string, len(names))
	for i, n := range names {
		if values[i] = c.form.Get(n); values[i] == "" {
			return nil, errorf(http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null",
				strings.ToLower(n[:1])+n[1:])
		}
	}
	return values, nil
}

func (s *Server) getCallerIdentity(c *call) (any, error) {
	return struct {
		Arn     string
		UserID  string `xml:"UserId"`
		Account string
	}{c.caller.arn, c.caller.userID, Account}, nil
}

// namePattern is IAM's pattern for role and session names.
var namePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string
}

type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

func (s *Server) assumeRoleWithWebIdentity(c *call) (any, error) {
	p, err := c.required("RoleArn", "RoleSessionName", "WebIdentityToken")
	if err != nil {
		return nil, err
	}
	roleArn, sessionName, token := p[0], p[1], p[2]
	duration, err := strconv.Atoi(cmp.Or(c.form.Get("DurationSeconds"), "3600"))
	switch {
	case !namePattern.MatchString(sessionName):
		return nil, errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)
	case err != nil || duration < 900:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")
	case token != WebIdentityToken:
		return nil, errorf(http.StatusBadRequest, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")
	}
	r := s.roleByArn(roleArn)
	if r == nil || !trustsWebIdentity(r.TrustPolicy) {
		return nil, errorf(http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	}
	if duration > r.maxSession {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	ss := &session{
		principal: principal{
			accessKey: "ASIA" + newID(16, upperDigits),
			arn:       "arn:aws:sts::" + Account + ":assumed-role/" + r.Name + "/" + sessionName,
			userID:    r.id + ":" + sessionName,
		},
		secret:  newID(40, alnum),
		token:   "IQoJb3JpZ2luX2VjE" + newID(320, alnum),
		expires: time.Now().Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second),
	}
	s.sessions[ss.accessKey] = ss
	claims := webIdentityClaims()
	return struct {
		Credentials                 credentialsXML
		SubjectFromWebIdentityToken string
		AssumedRoleUser             assumedRoleUser
		Provider, Audience          string
	}{
		Credentials:                 credentialsXML{ss.accessKey, ss.secret, ss.token, ss.expires.Format(time.RFC3339)},
		SubjectFromWebIdentityToken: claims.Sub,
		AssumedRoleUser:             assumedRoleUser{ss.userID, ss.arn},
		Provider:                    claims.Iss, Audience: claims.Aud,
	}, nil
}

// webIdentityClaims decodes the claims of WebIdentityToken.
func webIdentityClaims() (claims struct{ Iss, Sub, Aud string }) {
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(WebIdentityToken, ".")[1])
	_ = json.Unmarshal(payload, &claims)
	return claims
}

// trustsWebIdentity reports whether a trust policy allows
// sts:AssumeRoleWithWebIdentity to OIDCProviderArn. Conditions are not
// evaluated.
func trustsWebIdentity(policy string) bool {
	var doc struct{ Statement json.RawMessage }
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return false
	}
	var statements []struct {
		Effect    string
		Action    stringList
		Principal json.RawMessage
	}
	if bytes.HasPrefix(doc.Statement, []byte("{")) { // a single statement
		doc.Statement = slices.Concat([]byte("["), doc.Statement, []byte("]"))
	}
	_ = json.Unmarshal(doc.Statement, &statements)
	for _, st := range statements {
		var p struct{ Federated stringList }
		_ = json.Unmarshal(st.Principal, &p)
		if st.Effect == "Allow" && slices.Contains(p.Federated, OIDCProviderArn) &&
			(slices.Contains(st.Action, "sts:AssumeRoleWithWebIdentity") || slices.Contains(st.Action, "sts:*")) {
			return true
		}
	}
	return false
}

// stringList is a policy element that is a string or a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

type roleXML struct {
	Path                     string
	RoleName                 string
	RoleID                   string `xml:"RoleId"`
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string // URL-encoded, as IAM answers it
	Description              string `xml:",omitempty"`
	MaxSessionDuration       int
}

func (r *role) xml() any {
	return struct{ Role roleXML }{roleXML{
		Path: r.path, RoleName: r.Name, RoleID: r.id, Arn: r.Arn, CreateDate: r.created.Format(time.RFC3339),
		AssumeRolePolicyDocument: strings.ReplaceAll(url.QueryEscape(r.TrustPolicy), "+", "%20"),
		Description:              r.description, MaxSessionDuration: r.maxSession,
	}}
}

func noSuchRole(name string) error {
	return errorf(http.StatusNotFound, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

// namedRole finds the role c's RoleName names.
func (s *Server) namedRole(c *call) (*role, error) {
	p, err := c.required("RoleName")
	if err != nil {
		return nil, err
	}
	if r := s.role(p[0]); r != nil {
		return r, nil
	}
	return nil, noSuchRole(p[0])
}

func (s *Server) getRole(c *call) (any, error) {
	r, err := s.namedRole(c)
	if err != nil {
		return nil, err
	}
	return r.xml(), nil
}

func (s *Server) createRole(c *call) (any, error) {
	p, err := c.required("RoleName", "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	name, policy, path := p[0], p[1], cmp.Or(c.form.Get("Path"), "/")
	maxSession, err := strconv.Atoi(cmp.Or(c.form.Get("MaxSessionDuration"), "3600"))
	switch {
	case !namePattern.MatchString(name) && len(name) != 1:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	case !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/"):
		return nil, errorf(http.StatusBadRequest, "ValidationError", "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	case err != nil || maxSession < 3600 || maxSession > 43200:
		return nil, errorf(http.StatusBadRequest, "ValidationError", "The specified value for maxSessionDuration is invalid. It must be between 3600 and 43200 seconds.")
	case !json.Valid([]byte(policy)):
		return nil, errorf(http.StatusBadRequest, "MalformedPolicyDocument", "This policy contains invalid Json")
	case s.role(name) != nil:
		return nil, errorf(http.StatusConflict, "EntityAlreadyExists", "Role with name %s already exists.", name)
	}
	return s.addRole(Role{Name: name, TrustPolicy: policy}, path, c.form.Get("Description"), maxSession).xml(), nil
}

// policyArn is the form of a managed policy's ARN, AWS's or the account's.
var policyArn = regexp.MustCompile(`^arn:aws:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$`)

func (s *Server) attachRolePolicy(c *call) (any, error) {
	p, err := c.required("RoleName", "PolicyArn")
	if err != nil {
		return nil, err
	}
	r := s.role(p[0])
	switch {
	case !policyArn.MatchString(p[1]):
		return nil, errorf(http.StatusBadRequest, "InvalidInput", "ARN %s is not valid.", p[1])
	case r == nil:
		return nil, noSuchRole(p[0])
	}
	if !slices.Contains(r.Policies, p[1]) {
		r.Policies = append(r.Policies, p[1])
	}
	return nil, nil
}

func (s *Server) listAttachedRolePolicies(c *call) (any, error) {
	r, err := s.namedRole(c)
	if err != nil {
		return nil, err
	}
	type policy struct{ PolicyName, PolicyArn string }
	out := struct {
		AttachedPolicies []policy `xml:"AttachedPolicies>member"`
		IsTruncated      bool
	}{}
	for _, a := range r.Policies {
		out.AttachedPolicies = append(out.AttachedPolicies, policy{a[strings.LastIndex(a, "/")+1:], a})
	}
	return out, nil
}
