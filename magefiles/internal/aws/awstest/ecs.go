package awstest

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ECS Express Mode: services, their revisions and their deployments.

// Plan scripts how a service deployment ends.
type Plan struct {
	// Outcome is how it ends. Successful (the default): when the new
	// container answers 200 to its health check within HealthTimeout;
	// otherwise ECS rolls back. Rollback: ECS's circuit breaker rolls
	// it back (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL) without
	// starting a container: the service is back on the previous
	// configuration, whose container keeps serving. Stale: ECS reports
	// SUCCESSFUL, but the endpoint keeps forwarding to the previous
	// container, as a load balancer still routing to the old revision.
	Outcome string
	// Hold keeps the deployment IN_PROGRESS, before its container starts,
	// until Finish (or StopServiceDeployment).
	Hold bool
}

// The outcomes of a Plan.
const (
	Successful = "SUCCESSFUL"
	Rollback   = "ROLLBACK"
	Stale      = "STALE"
)

// Service is an Express service as the fake holds it.
type Service struct {
	Arn    string
	Status string // ACTIVE, DRAINING or INACTIVE
	// Image is the image of the container the endpoint forwards to; ""
	// when none is healthy yet.
	Image       string
	URL         string       // the endpoint: http://127.0.0.1:<port>
	Deployments []Deployment // oldest first
	// The configuration in effect, ECS's activeConfigurations[0]:
	Environment           map[string]string
	ContainerPort         int
	HealthCheckPath       string
	ExecutionRoleArn      string
	InfrastructureRoleArn string
}

// Deployment is a service deployment as the fake holds it.
type Deployment struct {
	Arn, Status, StatusReason string
	Image                     string // the image it deploys
}

// PlanDeployment scripts the next service deployment (by a create, or an
// update that changes the configuration); plans are used in the order given.
func (s *Server) PlanDeployment(p Plan) {
	if !slices.Contains([]string{"", Successful, Rollback, Stale}, p.Outcome) {
		panic("awstest: unknown deployment outcome " + p.Outcome)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans = append(s.plans, p)
}

// Finish releases the deployments Plan.Hold holds.
func (s *Server) Finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.release)
	s.release = make(chan struct{})
}

// Service returns the service named name in cluster ("" for default).
func (s *Server) Service(cluster, name string) (Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[serviceArn(cmp.Or(cluster, "default"), name)]
	if svc == nil {
		return Service{}, false
	}
	cfg := svc.current.cfg
	out := Service{
		Arn: svc.arn, Status: svc.status, URL: svc.url, Environment: map[string]string{},
		ContainerPort: int(cfg.PrimaryContainer.ContainerPort), HealthCheckPath: cfg.HealthCheckPath,
		ExecutionRoleArn: cfg.ExecutionRoleArn, InfrastructureRoleArn: svc.infraRole,
	}
	for _, kv := range cfg.PrimaryContainer.Environment {
		out.Environment[kv.Name] = kv.Value
	}
	if svc.serving != nil {
		out.Image = svc.serving.rev.cfg.PrimaryContainer.Image
	}
	for _, d := range svc.deploys {
		out.Deployments = append(out.Deployments, Deployment{d.arn, d.status, d.reason, d.target.cfg.PrimaryContainer.Image})
	}
	return out, true
}

// config is what a service revision runs, as ECS's JSON has it; two
// revisions with equal configs are the same.
type config struct {
	ExecutionRoleArn     string          `json:"executionRoleArn,omitempty"`
	TaskRoleArn          string          `json:"taskRoleArn,omitempty"`
	CPU                  string          `json:"cpu,omitempty"`
	Memory               string          `json:"memory,omitempty"`
	CPUArchitecture      string          `json:"cpuArchitecture,omitempty"`
	HealthCheckPath      string          `json:"healthCheckPath,omitempty"`
	PrimaryContainer     *containerSpec  `json:"primaryContainer,omitempty"`
	NetworkConfiguration json.RawMessage `json:"networkConfiguration,omitempty"`
	ScalingTarget        json.RawMessage `json:"scalingTarget,omitempty"`
}

type containerSpec struct {
	Image         string     `json:"image"`
	ContainerPort int32      `json:"containerPort,omitempty"`
	Command       []string   `json:"command,omitempty"`
	Environment   []keyValue `json:"environment,omitempty"`
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type revision struct {
	arn     string
	cfg     config
	created time.Time
}

type service struct {
	arn, cluster, name, infraRole string
	status                        string // ACTIVE, DRAINING or INACTIVE
	created, updated              time.Time
	// current is the configuration in effect; stable, the one of the last
	// successful deployment.
	current, stable *revision
	deploys         []*deployment // oldest first
	url             string
	proxy           *http.Server
	serving         *task                // where the endpoint forwards
	containers      map[string]*revision // the service's containers, by ID
}

// The ECS ARNs.
func clusterArn(cluster string) string {
	return "arn:aws:ecs:" + Region + ":" + Account + ":cluster/" + cluster
}

func serviceArn(cluster, name string) string {
	return "arn:aws:ecs:" + Region + ":" + Account + ":service/" + cluster + "/" + name
}

// clusterName accepts a cluster's name or ARN; "" is the default cluster.
func clusterName(c string) string {
	return cmp.Or(strings.TrimPrefix(c, "arn:aws:ecs:"+Region+":"+Account+":cluster/"), "default")
}

// expressInput is the request of the Create, Update, Describe and Delete
// ExpressGatewayService actions.
type expressInput struct {
	config
	ServiceArn            string `json:"serviceArn"`
	ServiceName           string `json:"serviceName"`
	Cluster               string `json:"cluster"`
	InfrastructureRoleArn string `json:"infrastructureRoleArn"`
	TaskDefinitionArn     string `json:"taskDefinitionArn"`
}

// json describes the service as Create, Describe and Delete answer it.
func (svc *service) json() map[string]any {
	out := map[string]any{
		"cluster": clusterArn(svc.cluster), "serviceName": svc.name, "serviceArn": svc.arn,
		"infrastructureRoleArn": svc.infraRole, "status": map[string]string{"statusCode": svc.status},
		"activeConfigurations": []any{svc.config(svc.current)}, "createdAt": epoch(svc.created), "updatedAt": epoch(svc.updated),
	}
	if len(svc.deploys) > 0 {
		out["currentDeployment"] = svc.deploys[len(svc.deploys)-1].arn
	}
	return map[string]any{"service": out}
}

// configJSON is an ExpressGatewayServiceConfiguration.
type configJSON struct {
	config
	ServiceRevisionArn string              `json:"serviceRevisionArn"`
	IngressPaths       []map[string]string `json:"ingressPaths"`
	CreatedAt          epoch               `json:"createdAt"`
}

func (svc *service) config(r *revision) configJSON {
	return configJSON{r.cfg, r.arn, []map[string]string{{"accessType": "PUBLIC", "endpoint": svc.url}}, epoch(r.created)}
}

func (svc *service) newRevision(cfg config) *revision {
	arn := "arn:aws:ecs:" + Region + ":" + Account + ":service-revision/" + svc.cluster + "/" + svc.name + "/" + newID(19, digits)
	return &revision{arn: arn, cfg: cfg, created: time.Now().UTC()}
}

func serviceNotFound() error {
	return errorf(http.StatusBadRequest, "ServiceNotFoundException", "Service not found.")
}

// activeService reads c's input and finds the service its serviceArn
// names, which must be ACTIVE.
func (s *Server) activeService(c *call) (*service, expressInput, error) {
	var in expressInput
	if err := c.decode(&in); err != nil {
		return nil, in, err
	}
	svc := s.services[in.ServiceArn]
	switch {
	case in.ServiceArn == "":
		return nil, in, invalid("serviceArn must be specified.")
	case svc == nil:
		return nil, in, serviceNotFound()
	case svc.status != "ACTIVE":
		return nil, in, errorf(http.StatusBadRequest, "ServiceNotActiveException", "Service was not ACTIVE.")
	}
	return svc, in, nil
}

// checkConfig applies ECS's defaults to cfg and validates it.
func (s *Server) checkConfig(cfg config) (config, error) {
	if cfg.PrimaryContainer == nil || cfg.PrimaryContainer.Image == "" {
		return cfg, invalid("primaryContainer.image must be specified when taskDefinitionArn is not.")
	}
	pc := *cfg.PrimaryContainer
	pc.ContainerPort = cmp.Or(pc.ContainerPort, 80)
	pc.Environment = slices.Clone(pc.Environment) // sorted: their order makes no new revision
	slices.SortStableFunc(pc.Environment, func(a, b keyValue) int { return strings.Compare(a.Name, b.Name) })
	cfg.PrimaryContainer = &pc
	cfg.HealthCheckPath = cmp.Or(cfg.HealthCheckPath, "/ping")
	cfg.CPU, cfg.Memory, cfg.CPUArchitecture = cmp.Or(cfg.CPU, "256"), cmp.Or(cfg.Memory, "512"), cmp.Or(cfg.CPUArchitecture, "X86_64")
	host, repository, _ := strings.Cut(pc.Image, "/")
	repository, _, _ = strings.Cut(repository, "@")
	if i := strings.LastIndex(repository, ":"); i >= 0 {
		repository = repository[:i]
	}
	switch {
	case pc.ContainerPort < 1 || pc.ContainerPort > 65535:
		return cfg, invalid("primaryContainer.containerPort must be between 1 and 65535.")
	case !strings.HasPrefix(cfg.HealthCheckPath, "/"):
		return cfg, invalid("healthCheckPath must start with a forward slash.")
	case cfg.ExecutionRoleArn == "":
		return cfg, invalid("executionRoleArn must be specified to pull images from Amazon ECR.")
	case s.roleByArn(cfg.ExecutionRoleArn) == nil:
		return cfg, invalid("The execution role %s does not exist or cannot be assumed by Amazon ECS.", cfg.ExecutionRoleArn)
	case cfg.TaskRoleArn != "" && s.roleByArn(cfg.TaskRoleArn) == nil:
		return cfg, invalid("The task role %s does not exist or cannot be assumed by Amazon ECS.", cfg.TaskRoleArn)
	case host != s.opts.Registry.Host || s.repo(repository) == nil:
		return cfg, invalid("The image %s is not in a repository of the Amazon ECR registry %s.", pc.Image, s.opts.Registry.Host)
	}
	return cfg, nil
}

// serviceName is ECS's pattern for service names.
var serviceName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

func (s *Server) createExpressGatewayService(c *call) (any, error) {
	var in expressInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	cluster, name := clusterName(in.Cluster), cmp.Or(in.ServiceName, "express-"+strings.ToLower(newID(12, upperDigits)))
	switch {
	case !serviceName.MatchString(name):
		return nil, invalid("Invalid service name: up to 255 letters, numbers, hyphens and underscores are allowed.")
	case in.TaskDefinitionArn != "":
		return nil, invalid("taskDefinitionArn is not supported by this fake: specify primaryContainer.")
	case in.InfrastructureRoleArn == "":
		return nil, invalid("infrastructureRoleArn must be specified.")
	case s.roleByArn(in.InfrastructureRoleArn) == nil:
		return nil, invalid("The infrastructure role %s does not exist or cannot be assumed by Amazon ECS.", in.InfrastructureRoleArn)
	}
	cfg, err := s.checkConfig(in.config)
	if err != nil {
		return nil, err
	}
	arn := serviceArn(cluster, name)
	if old := s.services[arn]; old != nil {
		if old.status != "INACTIVE" {
			return nil, invalid("Creation of service was not idempotent.")
		}
		_ = old.proxy.Close()
	}
	now := time.Now().UTC()
	svc := &service{
		arn: arn, cluster: cluster, name: name, infraRole: in.InfrastructureRoleArn, status: "ACTIVE",
		created: now, updated: now, containers: map[string]*revision{},
	}
	if err := s.startProxy(svc); err != nil {
		return nil, err
	}
	s.services[arn] = svc
	svc.current = svc.newRevision(cfg)
	s.deploy(svc, svc.current)
	return svc.json(), nil
}

func (s *Server) describeExpressGatewayService(c *call) (any, error) {
	var in expressInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	svc := s.services[in.ServiceArn]
	if svc == nil {
		return nil, serviceNotFound()
	}
	return svc.json(), nil
}

func (s *Server) updateExpressGatewayService(c *call) (any, error) {
	svc, in, err := s.activeService(c)
	if err != nil {
		return nil, err
	}
	if in.TaskDefinitionArn != "" {
		return nil, invalid("taskDefinitionArn is not supported by this fake: specify primaryContainer.")
	}
	// The fields given replace the current ones; a primaryContainer
	// replaces the whole container, but for a port left out.
	cfg, given := svc.current.cfg, in.config
	cfg.ExecutionRoleArn = cmp.Or(given.ExecutionRoleArn, cfg.ExecutionRoleArn)
	cfg.TaskRoleArn = cmp.Or(given.TaskRoleArn, cfg.TaskRoleArn)
	cfg.CPU, cfg.Memory = cmp.Or(given.CPU, cfg.CPU), cmp.Or(given.Memory, cfg.Memory)
	cfg.CPUArchitecture = cmp.Or(given.CPUArchitecture, cfg.CPUArchitecture)
	cfg.HealthCheckPath = cmp.Or(given.HealthCheckPath, cfg.HealthCheckPath)
	if given.PrimaryContainer != nil {
		pc := *given.PrimaryContainer
		pc.ContainerPort = cmp.Or(pc.ContainerPort, cfg.PrimaryContainer.ContainerPort)
		cfg.PrimaryContainer = &pc
	}
	if given.NetworkConfiguration != nil {
		cfg.NetworkConfiguration = given.NetworkConfiguration
	}
	if given.ScalingTarget != nil {
		cfg.ScalingTarget = given.ScalingTarget
	}
	if cfg, err = s.checkConfig(cfg); err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(cfg, svc.current.cfg) {
		svc.current, svc.updated = svc.newRevision(cfg), time.Now().UTC()
		s.deploy(svc, svc.current)
	}
	return map[string]any{"service": map[string]any{
		"cluster": clusterArn(svc.cluster), "serviceName": svc.name, "serviceArn": svc.arn,
		"status": map[string]string{"statusCode": svc.status}, "targetConfiguration": svc.config(svc.current),
		"createdAt": epoch(svc.created), "updatedAt": epoch(svc.updated),
	}}, nil
}

func (s *Server) deleteExpressGatewayService(c *call) (any, error) {
	svc, _, err := s.activeService(c)
	if err != nil {
		return nil, err
	}
	svc.status, svc.updated, svc.serving = "DRAINING", time.Now().UTC(), nil
	for _, d := range svc.deploys {
		if d.inProgress() {
			d.superseded = true
			d.cancel()
		}
	}
	ids := slices.Collect(maps.Keys(svc.containers))
	clear(svc.containers)
	s.wg.Go(func() {
		s.removeContainers(ids)
		s.mu.Lock()
		defer s.mu.Unlock()
		svc.status = "INACTIVE"
	})
	return svc.json(), nil
}

// json describes d as a ServiceDeploymentBrief, or in full as a
// ServiceDeployment.
func (d *deployment) json(brief bool) map[string]any {
	out := map[string]any{
		"serviceDeploymentArn": d.arn, "serviceArn": d.svc.arn, "clusterArn": clusterArn(d.svc.cluster),
		"status": d.status, "createdAt": epoch(d.created),
	}
	if d.reason != "" {
		out["statusReason"] = d.reason
	}
	for k, t := range map[string]time.Time{"startedAt": d.started, "finishedAt": d.finished, "stoppedAt": d.stopped} {
		if !t.IsZero() {
			out[k] = epoch(t)
		}
	}
	if brief {
		out["targetServiceRevisionArn"] = d.target.arn
		return out
	}
	done, n := d.status == "SUCCESSFUL", map[bool]int{false: 0, true: 1}
	out["updatedAt"] = epoch(d.updated)
	out["targetServiceRevision"] = map[string]any{"arn": d.target.arn, "requestedTaskCount": 1, "runningTaskCount": n[done], "pendingTaskCount": n[d.inProgress()]}
	if d.source != nil {
		out["sourceServiceRevisions"] = []any{map[string]any{"arn": d.source.arn, "requestedTaskCount": n[!done], "runningTaskCount": n[!done], "pendingTaskCount": 0}}
	}
	out["deploymentCircuitBreaker"] = map[string]any{"status": d.breaker, "failureCount": d.failures, "threshold": 3}
	if !d.rollbackStarted.IsZero() {
		out["rollback"] = map[string]any{"reason": d.reason, "startedAt": epoch(d.rollbackStarted), "serviceRevisionArn": d.source.arn}
	}
	return out
}

func (s *Server) listServiceDeployments(c *call) (any, error) {
	var in struct {
		Service, Cluster, NextToken string
		Status                      []string
		MaxResults                  int
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	arn := in.Service
	if !strings.HasPrefix(arn, "arn:") {
		arn = serviceArn(clusterName(in.Cluster), in.Service)
	}
	offset, err := strconv.Atoi(cmp.Or(in.NextToken, "0"))
	in.MaxResults = cmp.Or(in.MaxResults, 20)
	switch {
	case in.Service == "":
		return nil, invalid("service must be specified.")
	case err != nil || offset < 0:
		return nil, invalid("Invalid nextToken.")
	case in.MaxResults < 1 || in.MaxResults > 100:
		return nil, invalid("maxResults must be between 1 and 100.")
	case s.services[arn] == nil:
		return nil, serviceNotFound()
	}
	all := []any{}
	for _, d := range slices.Backward(s.services[arn].deploys) {
		if len(in.Status) == 0 || slices.Contains(in.Status, d.status) {
			all = append(all, d.json(true))
		}
	}
	out := map[string]any{"serviceDeployments": all[min(offset, len(all)):min(offset+in.MaxResults, len(all))]}
	if offset+in.MaxResults < len(all) {
		out["nextToken"] = strconv.Itoa(offset + in.MaxResults)
	}
	return out, nil
}

func (s *Server) describeServiceDeployments(c *call) (any, error) {
	var in struct {
		ServiceDeploymentArns []string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.ServiceDeploymentArns) < 1 || len(in.ServiceDeploymentArns) > 20 {
		return nil, invalid("serviceDeploymentArns must hold from 1 to 20 ARNs.")
	}
	found, failures := []any{}, []any{}
	for _, arn := range in.ServiceDeploymentArns {
		if d := s.deploys[arn]; d != nil {
			found = append(found, d.json(false))
		} else {
			failures = append(failures, map[string]string{"arn": arn, "reason": "MISSING"})
		}
	}
	return map[string]any{"serviceDeployments": found, "failures": failures}, nil
}

func (s *Server) stopServiceDeployment(c *call) (any, error) {
	var in struct {
		ServiceDeploymentArn, StopType string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	d := s.deploys[in.ServiceDeploymentArn]
	switch {
	case in.ServiceDeploymentArn == "":
		return nil, invalid("serviceDeploymentArn must be specified.")
	case in.StopType != "" && in.StopType != "ROLLBACK":
		return nil, invalid("stopType %s is not supported for this service deployment: use ROLLBACK.", in.StopType)
	case d == nil:
		return nil, errorf(http.StatusBadRequest, "ServiceDeploymentNotFoundException", "Service deployment not found.")
	case !d.inProgress():
		return nil, errorf(http.StatusBadRequest, "ConflictException", "The service deployment is %s: only a deployment in progress can be stopped.", d.status)
	}
	d.stopRequested, d.updated = true, time.Now().UTC()
	d.status = map[bool]string{true: "ROLLBACK_REQUESTED", false: "STOP_REQUESTED"}[d.source != nil]
	d.cancel()
	return map[string]string{"serviceDeploymentArn": d.arn}, nil
}
