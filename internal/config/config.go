// Package config reads and writes the contexts file and resolves a context,
// environment variables and flags into one broker.Target.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Context is one named broker connection in the contexts file.
type Context struct {
	Name string `yaml:"name" json:"name"`
	URL  string `yaml:"url" json:"url"`

	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// Password may be stored inline (the file is 0600), but PasswordEnv or
	// PasswordFile keep it out of the file altogether.
	Password     string `yaml:"password,omitempty" json:"password,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	Token        string `yaml:"token,omitempty" json:"token,omitempty"`
	TokenEnv     string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	TokenFile    string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	CredsFile    string `yaml:"creds_file,omitempty" json:"creds_file,omitempty"`
	NKeyFile     string `yaml:"nkey_file,omitempty" json:"nkey_file,omitempty"`

	TLS           broker.TLSOptions `yaml:"tls,omitempty" json:"tls,omitempty"`
	SASL          string            `yaml:"sasl,omitempty" json:"sasl,omitempty"`
	ManagementURL string            `yaml:"management_url,omitempty" json:"management_url,omitempty"`
	Heartbeat     Duration          `yaml:"heartbeat,omitempty" json:"heartbeat,omitempty"`
	Timeout       Duration          `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	ReadOnly      bool              `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Duration is a time.Duration written as "5s" in YAML and JSON.
type Duration time.Duration

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 5s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// IsZero lets omitempty drop unset durations.
func (d Duration) IsZero() bool { return d == 0 }

// File is the contexts file.
type File struct {
	CurrentContext string    `yaml:"current_context,omitempty"`
	Contexts       []Context `yaml:"contexts"`
}

// Path is where the contexts file lives: $MQCTL_CONFIG, else
// $XDG_CONFIG_HOME/mqctl/config.yaml, else ~/.config/mqctl/config.yaml.
func Path(getenv func(string) string) (string, error) {
	if p := getenv("MQCTL_CONFIG"); p != "" {
		return p, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "mqctl", "config.yaml"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", mqerr.Usagef("cannot locate the config file: set MQCTL_CONFIG or HOME")
		}
		home = h
	}
	return filepath.Join(home, ".config", "mqctl", "config.yaml"), nil
}

// Load reads the contexts file; a missing file is an empty one.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	var f File
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, mqerr.Usagef("config %s: %v", path, err)
	}
	return &f, nil
}

// Save writes the file atomically with mode 0600 (it may hold passwords).
func (f *File) Save(path string) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// Get returns the context named name.
func (f *File) Get(name string) (*Context, bool) {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			return &f.Contexts[i], true
		}
	}
	return nil, false
}

// Put adds c or replaces the context of the same name, keeping names sorted.
func (f *File) Put(c Context) {
	if old, ok := f.Get(c.Name); ok {
		*old = c
		return
	}
	f.Contexts = append(f.Contexts, c)
	sort.Slice(f.Contexts, func(i, j int) bool { return f.Contexts[i].Name < f.Contexts[j].Name })
}

// Remove deletes the context named name; removing the current context
// clears the selection.
func (f *File) Remove(name string) error {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			f.Contexts = append(f.Contexts[:i], f.Contexts[i+1:]...)
			if f.CurrentContext == name {
				f.CurrentContext = ""
			}
			return nil
		}
	}
	return NotFound(name)
}

// NotFound is the error for a context that does not exist (exit 2).
func NotFound(name string) error {
	return mqerr.Usagef("context %q does not exist (see 'mqctl context ls')", name)
}

// Redacted returns a copy safe to print: inline secrets and the password
// of every URL it holds are masked; env and file references stay, they are
// not secrets.
func (c Context) Redacted() Context {
	r := c
	r.URL = broker.RedactURL(c.URL)
	r.ManagementURL = broker.RedactURL(c.ManagementURL)
	if r.Password != "" {
		r.Password = "xxxxx"
	}
	if r.Token != "" {
		r.Token = "xxxxx"
	}
	return r
}
