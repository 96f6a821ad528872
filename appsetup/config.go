package appsetup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/riptides/driverbuild"
)

// Credentials are what GitHub hands over for a new App.
type Credentials struct {
	IntegrationID int64
	PrivateKey    string
	WebhookSecret string
	// APIURL is the REST root the App lives on, WebURL its web root.
	APIURL, WebURL string
}

// WriteConfig puts the App's credentials into the config file at path,
// keeping its other keys and comments; a file that does not exist starts
// as the commented example config.yml. The file is readable by its owner
// only: it holds the App's key.
func WriteConfig(path string, c Credentials) error {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		src = driverbuild.ConfigYAML
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if doc.Kind == 0 { // an empty file
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	for _, kv := range []struct {
		path  []string
		value *yaml.Node
	}{
		{[]string{"github", "v3_api_url"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.APIURL}},
		{[]string{"github", "web_url"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.WebURL}},
		{[]string{"github", "app", "integration_id"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(c.IntegrationID, 10)}},
		{[]string{"github", "app", "webhook_secret"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.WebhookSecret, Style: yaml.DoubleQuotedStyle}},
		{[]string{"github", "app", "private_key"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.PrivateKey, Style: yaml.LiteralStyle}},
	} {
		if err := set(doc.Content[0], kv.path, kv.value); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yml")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp made it 0600.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// set puts value at path in a mapping, adding the keys that are missing,
// and keeps the comment that was on the old value.
func set(m *yaml.Node, path []string, value *yaml.Node) error {
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s is not a mapping", path[0])
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != path[0] {
			continue
		}
		if len(path) == 1 {
			value.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = value
			return nil
		}
		return set(m.Content[i+1], path[1:], value)
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}
	if len(path) == 1 {
		m.Content = append(m.Content, key, value)
		return nil
	}
	child := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, key, child)
	return set(child, path[1:], value)
}
