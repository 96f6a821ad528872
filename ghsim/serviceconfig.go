package ghsim

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// ServiceConfig is the part of the build-service's config.yml that points
// it at a GitHub: the github section is go-githubapp's githubapp.Config.
type ServiceConfig struct {
	GitHub     ServiceGitHub     `yaml:"github"`
	Repository ServiceRepository `yaml:"repository"`
	API        map[string]bool   `yaml:"api"` // allow_anonymous: a simulator's service is for trying things
}

// ServiceGitHub has githubapp.Config's keys for what the simulator sets.
type ServiceGitHub struct {
	WebURL   string     `yaml:"web_url"`
	V3APIURL string     `yaml:"v3_api_url"`
	App      ServiceApp `yaml:"app"`
}

// ServiceApp is the app's identity: id, webhook secret and private key (PEM).
type ServiceApp struct {
	IntegrationID int64  `yaml:"integration_id"`
	WebhookSecret string `yaml:"webhook_secret"`
	PrivateKey    string `yaml:"private_key"`
}

// ServiceRepository names the repository, its build workflow and the ref
// to dispatch on.
type ServiceRepository struct {
	Owner    string `yaml:"owner"`
	Name     string `yaml:"name"`
	Workflow string `yaml:"workflow"`
	Ref      string `yaml:"ref"`
}

// ServiceConfig returns the config a build-service needs to use this
// simulator as its GitHub: URLs, the app's key and webhook secret, the
// repository and its workflow.
func (s *Server) ServiceConfig() ServiceConfig {
	base := s.URL()
	return ServiceConfig{
		GitHub: ServiceGitHub{
			WebURL:   base + "/",
			V3APIURL: base + "/api/v3/",
			App: ServiceApp{
				IntegrationID: s.cfg.AppID,
				WebhookSecret: s.secret,
				PrivateKey:    string(s.keyPEM),
			},
		},
		Repository: ServiceRepository{
			Owner:    s.cfg.Owner,
			Name:     s.cfg.Repo,
			Workflow: s.workflow.file,
			Ref:      defaultBranch,
		},
		API: map[string]bool{"allow_anonymous": true},
	}
}

// WriteServiceConfig writes c as a build-service config.yml.
func WriteServiceConfig(w io.Writer, c ServiceConfig) error {
	var buf bytes.Buffer
	buf.WriteString("# build-service config for a ghsim GitHub simulator, written by ghsim.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encode service config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode service config: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write service config: %w", err)
	}
	return nil
}

// WriteServiceConfigFile writes the simulator's ServiceConfig to path,
// readable only by its owner because it holds the app's private key. It
// replaces the file in one step, so a reader never sees half of it.
func (s *Server) WriteServiceConfigFile(path string) error {
	var buf bytes.Buffer
	if err := WriteServiceConfig(&buf, s.ServiceConfig()); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ghsim-config-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write service config: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write service config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write service config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write service config: %w", err)
	}
	return nil
}
