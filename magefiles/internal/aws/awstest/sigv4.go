package awstest

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A principal is who signed a request.
type principal struct {
	accessKey string
	arn       string // the user's, or the assumed role session's
	userID    string // AIDA... for the user, AROA...:<session> for a session
}

// deployer is the IAM user AccessKeyID belongs to.
var deployer = principal{accessKey: AccessKeyID, arn: UserArn, userID: "AIDAOCLETTINGSDEPLOY1"}

// A session is a set of temporary credentials AssumeRoleWithWebIdentity
// issued.
type session struct {
	principal
	secret, token string
	expires       time.Time
}

// A credential is what the Authorization header of a signed request says.
type credential struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
	ok                               bool // the header is well formed
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=<key>/<date>/
// <region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>".
func parseAuthorization(h string) credential {
	var c credential
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return c
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) == 5 {
		c.accessKey, c.date, c.region, c.service = scope[0], scope[1], scope[2], scope[3]
	}
	c.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	c.signature = fields["Signature"]
	c.ok = len(scope) == 5 && scope[4] == "aws4_request" && fields["SignedHeaders"] != "" && c.signature != ""
	return c
}

// An authFailure is a kind of authentication error, with its codes in the
// JSON and Query protocols. The JSON services answer all of them with 400.
type authFailure struct {
	jsonCode, queryCode string
	queryStatus         int
}

var (
	missingToken = authFailure{"MissingAuthenticationTokenException", "MissingAuthenticationToken", http.StatusForbidden}
	incomplete   = authFailure{"IncompleteSignatureException", "IncompleteSignature", http.StatusBadRequest}
	invalidToken = authFailure{"UnrecognizedClientException", "InvalidClientTokenId", http.StatusForbidden}
	badSignature = authFailure{"InvalidSignatureException", "SignatureDoesNotMatch", http.StatusForbidden}
	expiredToken = authFailure{"ExpiredTokenException", "ExpiredToken", http.StatusForbidden}
)

func (f authFailure) error(service, format string, args ...any) *apiError {
	if isJSON(service) {
		return errorf(http.StatusBadRequest, f.jsonCode, format, args...)
	}
	return errorf(f.queryStatus, f.queryCode, format, args...)
}

const (
	invalidTokenMessage = "The security token included in the request is invalid."
	signatureMessage    = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	amzDateFormat = "20060102T150405Z"
)

// authenticate checks the Signature Version 4 of a request to service and
// returns who signed it; s.mu is held.
func (s *Server) authenticate(r *http.Request, body []byte, service string, cred credential) (*principal, error) {
	switch {
	case r.Header.Get("Authorization") == "":
		return nil, missingToken.error(service, "Missing Authentication Token")
	case !cred.ok:
		return nil, incomplete.error(service, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=%s", r.Header.Get("Authorization"))
	}
	token := r.Header.Get("X-Amz-Security-Token")
	who, secret, ss := &deployer, SecretAccessKey, s.sessions[cred.accessKey]
	switch {
	case cred.accessKey == AccessKeyID && token == "":
	case ss != nil && token == ss.token:
		who, secret = &ss.principal, ss.secret
	default: // an unknown key, or a token that does not go with the key
		return nil, invalidToken.error(service, invalidTokenMessage)
	}

	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	switch {
	case err != nil:
		return nil, incomplete.error(service, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	case cred.date != amzDate[:8]:
		return nil, badSignature.error(service, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", cred.date, amzDate[:8], amzDate)
	case time.Since(signedAt).Abs() > 5*time.Minute:
		now := time.Now().UTC()
		return nil, badSignature.error(service, "Signature expired: %s is now earlier than %s (%s - 5 min.)", amzDate, now.Add(-5*time.Minute).Format(amzDateFormat), now.Format(amzDateFormat))
	case cred.region != Region && (service != "iam" || cred.region != "us-east-1"):
		return nil, badSignature.error(service, "Credential should be scoped to a valid region. ")
	case cred.service != service:
		return nil, badSignature.error(service, "Credential should be scoped to correct service: '%s'. ", service)
	case !slices.Contains(cred.signedHeaders, "host"):
		return nil, badSignature.error(service, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	payloadHash := cmp.Or(r.Header.Get("X-Amz-Content-Sha256"), hexSHA256(body))
	want := signature(secret, cred, amzDate, canonicalRequest(r, cred.signedHeaders, payloadHash))
	if !hmac.Equal([]byte(want), []byte(cred.signature)) {
		return nil, badSignature.error(service, signatureMessage)
	}
	if ss != nil && time.Now().After(ss.expires) {
		return nil, expiredToken.error(service, "The security token included in the request is expired")
	}
	return who, nil
}

// canonicalRequest is the first step of the algorithm: the request in the
// form both sides sign.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n" + canonicalURI(r.URL) + "\n" + canonicalQuery(r.URL) + "\n")
	for _, h := range signedHeaders {
		b.WriteString(h + ":" + headerValue(r, h) + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + payloadHash)
	return b.String()
}

// canonicalURI encodes each segment of the (already escaped) path once
// more, as every service but S3 wants.
func canonicalURI(u *url.URL) string {
	segments := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segments {
		segments[i] = uriEncode(seg)
	}
	return cmp.Or(strings.Join(segments, "/"), "/")
}

// canonicalQuery is the query's encoded parameters sorted by name, then value.
func canonicalQuery(u *url.URL) string {
	var pairs [][2]string
	for k, vs := range u.Query() {
		for _, v := range vs {
			pairs = append(pairs, [2]string{uriEncode(k), uriEncode(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, "&")
}

// headerValue is the canonical value of the header name: its values
// trimmed, inner runs of spaces collapsed, joined by commas.
func headerValue(r *http.Request, name string) string {
	values := slices.Clone(r.Header.Values(name))
	switch {
	case name == "host":
		return r.Host // Go's server moves Host out of the header map
	case name == "content-length" && len(values) == 0:
		return strconv.FormatInt(r.ContentLength, 10)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// uriEncode percent-encodes every byte but the unreserved characters of
// RFC 3986, with upper-case hex digits.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// signature signs the canonical request with a key derived from secret
// for the credential's scope.
func signature(secret string, cred credential, amzDate, canonical string) string {
	scope := []string{cred.date, cred.region, cred.service, "aws4_request"}
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope, "/") + "\n" + hexSHA256([]byte(canonical))
	key := []byte("AWS4" + secret)
	for _, part := range scope {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
