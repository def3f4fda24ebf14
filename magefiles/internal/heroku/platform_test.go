package heroku_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

// The release to go back to is the newest marked current among the ten
// newest, found by one request before the release.
func TestRollbackGoesBackToTheCurrentRelease(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed int    // how many of the app's 30 newest releases failed
		want   string // in what Rollback says
	}{
		{"current among the newest", 6, "v32 (rollback to v24, the release current before this deploy) succeeded"},
		{"none of the newest ten current", 12, "v31 is failed and there is no earlier release to roll back to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := newFake(t)
			ctx := context.Background()
			fake.AddApp(herokutest.App{Name: "oc-web"})
			for i := 0; i < 30; i++ {
				status := heroku.StatusSucceeded
				if i >= 30-tc.failed {
					status = heroku.StatusFailed
				}
				fake.AddRelease("oc-web", digestOf(i), status)
			}
			images := &herokutest.ImageMap{}
			images.Set("oc-web", digestOf(99))
			fake.SetImages(images)
			fake.PlanRelease(herokutest.ReleasePlan{Status: heroku.StatusFailed})

			p := &heroku.Platform{Client: c, App: "oc-web", Out: io.Discard, PollInterval: time.Millisecond}
			if name, changed, err := p.Release(ctx, registry.Copied{ConfigDigest: digestOf(99)}); err != nil || name != "v31" || !changed {
				t.Fatalf("Release = %s, %v, %v; want v31 made", name, changed, err)
			}
			if first := fake.Requests()[0]; first.String() != "GET /apps/oc-web/releases" || first.Range != "version ..; order=desc, max=10" {
				t.Errorf("first request = %s [%s], want the newest ten releases", first, first.Range)
			}
			outcome, err := p.Rollback(ctx, true)
			if got := outcome + fmt.Sprint(err); !strings.Contains(got, tc.want) {
				t.Errorf("Rollback: %q, %v; want %q", outcome, err, tc.want)
			}
		})
	}
}
