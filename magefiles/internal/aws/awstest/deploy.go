package awstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// A deployment is a service deployment, which a goroutine carries out
// (run) while the API answers what it has reached.
type deployment struct {
	arn            string
	svc            *service
	source, target *revision // source is the last successful one, nil for the first
	plan           Plan
	health         time.Duration   // the HealthTimeout when it started
	release        <-chan struct{} // closed by Finish
	ctx            context.Context // ends when it is stopped or superseded, or the server closes
	cancel         context.CancelFunc
	status, reason string
	breaker        string // the circuit breaker's status
	failures       int
	// stopRequested is set by StopServiceDeployment; superseded, by a
	// newer deployment or the deletion of the service.
	stopRequested, superseded                                     bool
	created, started, finished, stopped, updated, rollbackStarted time.Time
}

func (d *deployment) inProgress() bool { return d.status == "PENDING" || d.status == "IN_PROGRESS" }

// A task is a started container of a revision.
type task struct {
	id  string
	rev *revision
	url *url.URL // where its port is published: http://127.0.0.1:<port>
}

// step is how long the fake lingers in the statuses it could pass at
// once (a rollback without a task to stop), so that pollers see them.
const step = 200 * time.Millisecond

// deploy starts a deployment of rev, which supersedes the deployments in
// progress; s.mu is held.
func (s *Server) deploy(svc *service, rev *revision) {
	for _, d := range svc.deploys {
		if d.inProgress() {
			d.superseded = true
			d.cancel()
		}
	}
	var plan Plan
	if len(s.plans) > 0 {
		plan, s.plans = s.plans[0], s.plans[1:]
	}
	now := time.Now().UTC()
	d := &deployment{
		arn: "arn:aws:ecs:" + Region + ":" + Account + ":service-deployment/" + svc.cluster + "/" + svc.name + "/" + newID(22, alnum),
		svc: svc, source: svc.stable, target: rev, plan: plan, health: s.HealthTimeout, release: s.release,
		status: "PENDING", breaker: "MONITORING", created: now, updated: now,
	}
	d.ctx, d.cancel = context.WithCancel(s.ctx)
	svc.deploys = append(svc.deploys, d)
	s.deploys[d.arn] = d
	s.wg.Go(func() { s.run(d) })
}

// run carries out d: it starts the new task, waits for it to be healthy
// and shifts the endpoint to it, or rolls back.
func (s *Server) run(d *deployment) {
	defer d.cancel()
	s.update(d, func() {
		if d.status == "PENDING" {
			d.status, d.started = "IN_PROGRESS", time.Now().UTC()
		}
	})
	if d.plan.Hold {
		select {
		case <-d.release:
		case <-d.ctx.Done():
		}
	}
	var t *task
	var err error
	switch {
	case d.ctx.Err() != nil:
	case d.plan.Outcome == Rollback:
		sleep(d.ctx, step)
		err = errors.New("tasks failed to start")
	default:
		t, err = s.startTask(d)
	}
	remove, rollingBack := s.conclude(d, t, err)
	s.removeContainers(remove)
	if rollingBack {
		sleep(s.ctx, step)
		s.update(d, func() { d.status, d.finished = "ROLLBACK_SUCCESSFUL", time.Now().UTC() })
	}
}

// update changes d with s.mu held.
func (s *Server) update(d *deployment, change func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change()
	d.updated = time.Now().UTC()
}

// conclude records how d ended, given its task t and the error that
// stopped it, and returns the containers to remove and whether a rollback
// is under way.
func (s *Server) conclude(d *deployment, t *task, err error) (remove []string, rollingBack bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return nil, false // closing: Close removes every container
	}
	now, svc := time.Now().UTC(), d.svc
	d.updated = now
	if err == nil && t != nil && !d.stopRequested && !d.superseded {
		d.status, d.reason, d.breaker, d.finished = "SUCCESSFUL", "Service deployment completed successfully.", "MONITORING_COMPLETE", now
		svc.stable = d.target
		if d.plan.Outcome == Stale && svc.serving != nil {
			return nil, false // the endpoint keeps forwarding to the old task
		}
		svc.serving = t
		for id := range svc.containers {
			if id != t.id {
				remove = append(remove, id)
				delete(svc.containers, id)
			}
		}
		return remove, false
	}
	if t != nil {
		remove = []string{t.id}
		delete(svc.containers, t.id)
	}
	stop := func(reason string) { d.status, d.reason, d.stopped, d.finished = "STOPPED", reason, now, now }
	if err != nil && !d.stopRequested && !d.superseded {
		d.breaker, d.failures = "TRIGGERED", 3
	}
	switch {
	case d.superseded:
		stop("Service deployment stopped: a newer deployment or the deletion of the service superseded it.")
	case d.source == nil && d.stopRequested:
		stop("Service deployment stopped by StopServiceDeployment, with no service revision to roll back to.")
	case d.source == nil:
		stop("ECS deployment circuit breaker: " + err.Error() + ", with no service revision to roll back to.")
	default:
		d.status, d.rollbackStarted, svc.current = "ROLLBACK_IN_PROGRESS", now, d.source
		if d.stopRequested {
			d.reason = "Service deployment rolled back because it was stopped by StopServiceDeployment."
		} else {
			d.reason = "Service deployment rolled back because the circuit breaker threshold was exceeded: " + err.Error() + "."
		}
		return remove, true
	}
	return remove, false
}

// startTask pulls the image of d's revision, starts a container of it and
// waits until it answers its health check.
func (s *Server) startTask(d *deployment) (*task, error) {
	pc := d.target.cfg.PrimaryContainer
	if err := s.pull(d.ctx, pc.Image); err != nil {
		return nil, fmt.Errorf("CannotPullContainerError: pull image %s: %w", pc.Image, err)
	}
	port, err := network.ParsePort(strconv.Itoa(int(pc.ContainerPort)) + "/tcp")
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(pc.Environment))
	for _, kv := range pc.Environment {
		env = append(env, kv.Name+"="+kv.Value)
	}
	// Not cancelled with d: a container created is one to remove.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), time.Minute)
	defer cancel()
	docker := s.opts.Docker
	created, err := docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "awstest-" + d.svc.name + "-" + newID(8, hexDigits),
		Config: &container.Config{
			Image: pc.Image, Env: env, Cmd: pc.Command, ExposedPorts: network.PortSet{port: {}},
			Labels: map[string]string{ContainerLabel: s.id, ContainerLabel + ".service": d.svc.arn},
		},
		HostConfig: &container.HostConfig{
			PortBindings: network.PortMap{port: {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1})}}}, // any free port
		},
	})
	if err != nil {
		return nil, fmt.Errorf("CannotCreateContainerError: %w", err)
	}
	t := &task{id: created.ID, rev: d.target}
	s.mu.Lock()
	d.svc.containers[t.id] = d.target
	s.mu.Unlock()
	if _, err := docker.ContainerStart(ctx, t.id, client.ContainerStartOptions{}); err != nil {
		return t, fmt.Errorf("CannotStartContainerError: %w", err)
	}
	info, err := docker.ContainerInspect(ctx, t.id, client.ContainerInspectOptions{})
	if err != nil {
		return t, err
	}
	bindings := info.Container.NetworkSettings.Ports[port]
	if len(bindings) == 0 {
		return t, fmt.Errorf("port %s of the container is not published", port)
	}
	t.url = &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", bindings[0].HostPort)}
	return t, s.waitHealthy(d, t)
}

// healthClient makes the load balancer's health checks: a redirect is
// not a success.
var healthClient = &http.Client{
	Timeout:       2 * time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// waitHealthy waits until t answers 200 to the health check, for at most
// d's HealthTimeout, and fails early when its container exits.
func (s *Server) waitHealthy(d *deployment, t *task) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.health)
	defer cancel()
	last := "no answer"
	for {
		info, err := s.opts.Docker.ContainerInspect(ctx, t.id, client.ContainerInspectOptions{})
		if err == nil && !info.Container.State.Running {
			return fmt.Errorf("essential container in task exited with code %d", info.Container.State.ExitCode)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url.String()+d.target.cfg.HealthCheckPath, nil)
		if err != nil {
			return err
		}
		if resp, err := healthClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("task failed ELB health checks (GET %s: %s within %s)", d.target.cfg.HealthCheckPath, last, d.health)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pull pulls image from the registry as ECR's user.
func (s *Server) pull(ctx context.Context, image string) error {
	reg := s.opts.Registry
	auth, err := authconfig.Encode(registry.AuthConfig{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := s.opts.Docker.ImagePull(ctx, image, client.ImagePullOptions{RegistryAuth: auth})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err == nil {
		s.mu.Lock()
		s.pulled[image] = true
		s.mu.Unlock()
	}
	return err
}

// startProxy starts the service's endpoint: a reverse proxy, standing for
// the load balancer, to the task the service is serving from.
func (s *Server) startProxy(svc *service) error {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	svc.url = "http://" + l.Addr().String()
	svc.proxy = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		t := svc.serving
		s.mu.Unlock()
		if t == nil {
			http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(t.url)
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
				// The load balancer's listener is HTTPS.
				pr.Out.Header.Set("X-Forwarded-Proto", "https")
				pr.Out.Header.Set("X-Forwarded-Port", "443")
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
				http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = svc.proxy.Serve(l) }()
	return nil
}

// removeContainers removes containers, running or not.
func (s *Server) removeContainers(ids []string) {
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = s.opts.Docker.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
	}
}

// removeAll removes every container of the server, and the images.
func (s *Server) removeAll(images []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := s.opts.Docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", ContainerLabel+"="+s.id)})
	if err == nil {
		var ids []string
		for _, c := range list.Items {
			ids = append(ids, c.ID)
		}
		s.removeContainers(ids)
	}
	for _, image := range images {
		_, _ = s.opts.Docker.ImageRemove(ctx, image, client.ImageRemoveOptions{PruneChildren: true})
	}
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
