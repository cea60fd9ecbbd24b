package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var metricName = regexp.MustCompile(`\b(?:waitroom|ticketd)_[a-z_]+\b`)

// exported returns the metric names the gateway and ticketd register.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, f := range []string{"../gateway/metrics.go", "../internal/ticketd/metrics.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"((?:waitroom|ticketd)_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	return names
}

// Every metric a dashboard panel or an alert rule queries is one the
// binaries export: a renamed metric would otherwise leave an empty panel
// or an alert that can never fire.
func TestDashboardsAndAlertsUseExportedMetrics(t *testing.T) {
	have := exported(t)
	if len(have) < 10 {
		t.Fatalf("found only %d metric names in the sources: %v", len(have), have)
	}
	dash, err := os.ReadFile("grafana/waitroom-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(dash) {
		t.Fatal("dashboard is not valid JSON")
	}
	alerts, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(alerts, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule %+v lacks alert or expr", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	for _, src := range []struct{ file, text string }{
		{"grafana/waitroom-dashboard.json", string(dash)},
		{"prometheus/alerts.yaml", strings.Join(exprs, "\n")},
	} {
		for _, name := range metricName.FindAllString(src.text, -1) {
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(name, suf) && have[strings.TrimSuffix(name, suf)] {
					base = strings.TrimSuffix(name, suf)
				}
			}
			if !have[base] {
				t.Errorf("%s queries %s, which neither binary exports", src.file, name)
			}
		}
	}
}
