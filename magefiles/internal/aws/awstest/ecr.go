package awstest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ECR and ECS: AWS JSON 1.1. Handlers decode the request's JSON and return
// a value to encode as the answer.

// decode reads the request's JSON into v.
func (c *call) decode(v any) error {
	if err := json.Unmarshal(c.body, v); err != nil {
		return errorf(http.StatusBadRequest, "SerializationException", "%v", err)
	}
	return nil
}

// invalid is ECR's and ECS's answer to a bad parameter.
func invalid(format string, args ...any) error {
	return errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// epoch is a timestamp as the JSON protocols send it: seconds since
// 1970, as a number with a fraction.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(e).UnixMilli())/1000, 'f', 3, 64)), nil
}

// Repository is an ECR repository as the fake holds it. Only its metadata:
// the images are in the registry (Options.Registry), where pushes create
// repositories as they come.
type Repository struct {
	Name          string
	URI           string // <registry host>/<name>
	ScanOnPush    bool
	TagMutability string // MUTABLE or IMMUTABLE (or their _WITH_EXCLUSION forms)
}

type repo struct {
	Repository
	created time.Time
}

// AddRepository adds a mutable repository without scanning, as if created
// earlier, unless it exists.
func (s *Server) AddRepository(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repo(name) == nil {
		s.addRepo(name, false, "MUTABLE")
	}
}

func (s *Server) addRepo(name string, scanOnPush bool, mutability string) *repo {
	r := &repo{Repository{name, s.opts.Registry.Host + "/" + name, scanOnPush, mutability}, time.Now().UTC()}
	s.repos = append(s.repos, r)
	return r
}

// Repository returns the repository named name.
func (s *Server) Repository(name string) (Repository, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repo(name); r != nil {
		return r.Repository, true
	}
	return Repository{}, false
}

func (s *Server) repo(name string) *repo {
	for _, r := range s.repos {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (r *repo) json() map[string]any {
	return map[string]any{
		"repositoryArn": "arn:aws:ecr:" + Region + ":" + Account + ":repository/" + r.Name, "registryId": Account,
		"repositoryName": r.Name, "repositoryUri": r.URI, "createdAt": epoch(r.created), "imageTagMutability": r.TagMutability,
		"imageScanningConfiguration": map[string]bool{"scanOnPush": r.ScanOnPush},
		"encryptionConfiguration":    map[string]string{"encryptionType": "AES256"},
	}
}

// checkRegistryID refuses a registry other than the account's own.
func checkRegistryID(ids ...string) error {
	for _, id := range ids {
		if id != "" && id != Account {
			return invalid("Invalid parameter at 'registryId' failed to satisfy constraint: 'The registry %s does not belong to the account %s'", id, Account)
		}
	}
	return nil
}

func (s *Server) getAuthorizationToken(c *call) (any, error) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryIDs...); err != nil {
		return nil, err
	}
	reg := s.opts.Registry
	return map[string]any{"authorizationData": []any{map[string]any{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte(reg.User + ":" + reg.Password)),
		"expiresAt":          epoch(time.Now().Add(12 * time.Hour)),
		"proxyEndpoint":      "http://" + reg.Host,
	}}}, nil
}

func (s *Server) describeRepositories(c *call) (any, error) {
	var in struct {
		RegistryID      string   `json:"registryId"`
		RepositoryNames []string `json:"repositoryNames"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	names := in.RepositoryNames
	if len(names) == 0 {
		for _, r := range s.repos {
			names = append(names, r.Name)
		}
		slices.Sort(names)
	}
	out := []any{}
	for _, name := range names {
		r := s.repo(name)
		if r == nil {
			return nil, errorf(http.StatusBadRequest, "RepositoryNotFoundException",
				"The repository with name '%s' does not exist in the registry with id '%s'", name, Account)
		}
		out = append(out, r.json())
	}
	return map[string]any{"repositories": out}, nil
}

// repositoryName is ECR's pattern for repository names.
var repositoryName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func (s *Server) createRepository(c *call) (any, error) {
	var in struct {
		RegistryID                 string `json:"registryId"`
		RepositoryName             string `json:"repositoryName"`
		ImageTagMutability         string `json:"imageTagMutability"`
		ImageScanningConfiguration struct {
			ScanOnPush bool `json:"scanOnPush"`
		} `json:"imageScanningConfiguration"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	mutability := cmp.Or(in.ImageTagMutability, "MUTABLE")
	switch {
	case checkRegistryID(in.RegistryID) != nil:
		return nil, checkRegistryID(in.RegistryID)
	case len(in.RepositoryName) < 2 || len(in.RepositoryName) > 256 || !repositoryName.MatchString(in.RepositoryName):
		return nil, invalid("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '%s''", repositoryName)
	case !slices.Contains([]string{"MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"}, mutability):
		return nil, invalid("Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'")
	case s.repo(in.RepositoryName) != nil:
		return nil, errorf(http.StatusBadRequest, "RepositoryAlreadyExistsException",
			"The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, Account)
	}
	return map[string]any{"repository": s.addRepo(in.RepositoryName, in.ImageScanningConfiguration.ScanOnPush, mutability).json()}, nil
}
