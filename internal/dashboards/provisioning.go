package dashboards

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Datasource is one entry of a Grafana datasource provisioning file
// (grafana/provisioning/datasources/*.yml).
type Datasource struct {
	Name      string         `yaml:"name"`
	UID       string         `yaml:"uid"`
	Type      string         `yaml:"type"`
	Access    string         `yaml:"access"`
	OrgID     int            `yaml:"orgId"`
	URL       string         `yaml:"url"`
	IsDefault bool           `yaml:"isDefault"`
	Editable  bool           `yaml:"editable"`
	JSONData  map[string]any `yaml:"jsonData"`
	File      string         `yaml:"-"` // the file that defines it
}

// Provider is one entry of a Grafana dashboard provisioning file
// (grafana/provisioning/dashboards/*.yml).
type Provider struct {
	Name                  string `yaml:"name"`
	OrgID                 int    `yaml:"orgId"`
	Folder                string `yaml:"folder"`
	Type                  string `yaml:"type"`
	DisableDeletion       bool   `yaml:"disableDeletion"`
	AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
	UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
	Options               struct {
		Path                      string `yaml:"path"`
		FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
	} `yaml:"options"`
	File string `yaml:"-"` // the file that defines it
}

// LoadDatasources reads every *.yml and *.yaml file of a datasource
// provisioning directory. Unknown keys are errors: a misspelt key is
// silently ignored by Grafana, so it is caught here instead.
func LoadDatasources(dir string) ([]Datasource, error) {
	var out []Datasource
	err := eachYAML(dir, func(file string, dec *yaml.Decoder) error {
		var doc struct {
			APIVersion        int          `yaml:"apiVersion"`
			Datasources       []Datasource `yaml:"datasources"`
			DeleteDatasources []struct {
				Name  string `yaml:"name"`
				OrgID int    `yaml:"orgId"`
			} `yaml:"deleteDatasources"`
			Prune bool `yaml:"prune"`
		}
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		if doc.APIVersion != 1 {
			return fmt.Errorf("apiVersion %d, want 1", doc.APIVersion)
		}
		for _, ds := range doc.Datasources {
			ds.File = file
			out = append(out, ds)
		}
		return nil
	})
	return out, err
}

// LoadProviders reads every *.yml and *.yaml file of a dashboard
// provisioning directory, rejecting unknown keys.
func LoadProviders(dir string) ([]Provider, error) {
	var out []Provider
	err := eachYAML(dir, func(file string, dec *yaml.Decoder) error {
		var doc struct {
			APIVersion int        `yaml:"apiVersion"`
			Providers  []Provider `yaml:"providers"`
		}
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		if doc.APIVersion != 1 {
			return fmt.Errorf("apiVersion %d, want 1", doc.APIVersion)
		}
		for _, p := range doc.Providers {
			p.File = file
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// eachYAML calls fn with a strict decoder for each YAML file of dir, in name
// order; a directory without YAML files, or a file with more than one
// document, is an error.
func eachYAML(dir string, fn func(file string, dec *yaml.Decoder) error) error {
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.yml or *.yaml files in %s", dir)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := fn(f, dec); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		var extra any
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: more than one YAML document", f)
		}
	}
	return nil
}
