package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPath(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MQCTL_CONFIG": "/x/c.yaml", "XDG_CONFIG_HOME": "/xdg"}, "/x/c.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}, "/xdg/mqctl/config.yaml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/mqctl/config.yaml"},
	}
	for _, tc := range cases {
		if got, err := Path(env(tc.env)); err != nil || got != tc.want {
			t.Errorf("Path(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestSaveLoadRoundTripAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config.yaml")
	f := &File{CurrentContext: "b"}
	f.Put(Context{Name: "b", URL: "nats://n:4222", Timeout: Duration(3 * time.Second)})
	f.Put(Context{Name: "a", URL: "kafka://k:9092", SASL: "PLAIN", Username: "u", PasswordEnv: "PW"})
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode().Perm(), err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Contexts) != 2 || g.Contexts[0].Name != "a" || g.CurrentContext != "b" || time.Duration(g.Contexts[1].Timeout) != 3*time.Second {
		t.Fatalf("round trip: %+v", g)
	}
}

func TestLoadMissingIsEmptyAndBadYAMLIsUsage(t *testing.T) {
	dir := t.TempDir()
	f, err := Load(filepath.Join(dir, "none.yaml"))
	if err != nil || len(f.Contexts) != 0 {
		t.Fatalf("missing file: %+v %v", f, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("contexts:\n  - name: a\n    timeout: soon\n"), 0o600)
	if _, err := Load(bad); mqerr.KindOf(err) != mqerr.Usage || !strings.Contains(err.Error(), "soon") {
		t.Fatalf("bad duration: %v", err)
	}
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	f := &File{CurrentContext: "cur", Contexts: []Context{
		{Name: "cur", URL: "kafka://cur:9092", Username: "u", Password: "inline"},
		{Name: "other", URL: "amqp://other/", Username: "o", PasswordFile: pwFile, Timeout: Duration(2 * time.Second), ReadOnly: true},
		{Name: "envpw", URL: "nats://n", PasswordEnv: "NPW"},
	}}
	cases := []struct {
		name     string
		ov       Overrides
		env      map[string]string
		url, pw  string
		ctx      string
		timeout  time.Duration
		readOnly bool
	}{
		{"current context", Overrides{}, nil, "kafka://cur:9092", "inline", "cur", 0, false},
		{"-c wins over env", Overrides{Context: "other"}, map[string]string{"MQCTL_CONTEXT": "cur"}, "amqp://other/", "from-file", "other", 2 * time.Second, true},
		{"MQCTL_CONTEXT", Overrides{}, map[string]string{"MQCTL_CONTEXT": "other"}, "amqp://other/", "from-file", "other", 2 * time.Second, true},
		{"bare --url does not borrow the current context's credentials", Overrides{URL: "kafka://elsewhere:9092"}, nil, "kafka://elsewhere:9092", "", "", 0, false},
		{"MQCTL_URL likewise", Overrides{}, map[string]string{"MQCTL_URL": "nats://e:4222"}, "nats://e:4222", "", "", 0, false},
		{"--url with -c overrides the URL, keeps auth", Overrides{Context: "cur", URL: "kafka://alt:9092"}, nil, "kafka://alt:9092", "inline", "cur", 0, false},
		{"--timeout wins", Overrides{Context: "other", Timeout: time.Second}, nil, "amqp://other/", "from-file", "other", time.Second, true},
		{"MQCTL_PASSWORD wins", Overrides{}, map[string]string{"MQCTL_PASSWORD": "envpw"}, "kafka://cur:9092", "envpw", "cur", 0, false},
		{"password_env", Overrides{Context: "envpw"}, map[string]string{"NPW": "np"}, "nats://n", "np", "envpw", 0, false},
		{"-c ignores MQCTL_URL", Overrides{Context: "cur"}, map[string]string{"MQCTL_URL": "kafka://ci:9092"}, "kafka://cur:9092", "inline", "cur", 0, false},
		{"--url ignores MQCTL_CONTEXT's credentials", Overrides{URL: "kafka://adhoc:9092"}, map[string]string{"MQCTL_CONTEXT": "cur"}, "kafka://adhoc:9092", "", "", 0, false},
		{"MQCTL_URL beats the current context", Overrides{}, map[string]string{"MQCTL_URL": "kafka://ci:9092"}, "kafka://ci:9092", "", "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := Resolve(f, tc.ov, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if tg.URL != tc.url || tg.Password != tc.pw || tg.Context != tc.ctx || tg.Timeout != tc.timeout || tg.ReadOnly != tc.readOnly {
				t.Errorf("got %+v", tg)
			}
		})
	}
}

// ContextOnly: a context named among several gets neither the single
// target's MQCTL_USERNAME/MQCTL_PASSWORD nor MQCTL_URL, but still reads the
// variable its password_env names, even one starting with MQCTL_.
func TestResolveContextOnly(t *testing.T) {
	f := &File{Contexts: []Context{
		{Name: "a", URL: "amqp://a/", Username: "ua", Password: "pa"},
		{Name: "b", URL: "nats://b", PasswordEnv: "MQCTL_B_PASSWORD"},
	}}
	getenv := ContextOnly(env(map[string]string{
		"MQCTL_USERNAME": "intruder", "MQCTL_PASSWORD": "not-for-a", "MQCTL_URL": "kafka://ci:9092",
		"MQCTL_CONTEXT": "b", "MQCTL_B_PASSWORD": "pb",
	}))
	for _, want := range []struct{ name, url, user, pw string }{{"a", "amqp://a/", "ua", "pa"}, {"b", "nats://b", "", "pb"}} {
		tg, err := Resolve(f, Overrides{Context: want.name}, getenv)
		if err != nil {
			t.Fatal(err)
		}
		if tg.URL != want.url || tg.Username != want.user || tg.Password != want.pw {
			t.Errorf("context %s: got %s %q %q, want %s %q %q", want.name, tg.URL, tg.Username, tg.Password, want.url, want.user, want.pw)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	f := &File{Contexts: []Context{{Name: "e", URL: "nats://n", PasswordEnv: "UNSET_PW"}, {Name: "f", URL: "nats://n", PasswordFile: "/nonexistent/pw"}}}
	for _, tc := range []struct {
		ov      Overrides
		mention string
	}{
		{Overrides{Context: "ghost"}, `context "ghost" does not exist`},
		{Overrides{}, "no broker selected"},
		{Overrides{Context: "e"}, "UNSET_PW"},
		{Overrides{Context: "f"}, "password_file"},
		{Overrides{URL: "kafka://u:pw123@h:x"}, "invalid port"},
		{Overrides{}, "MQCTL_CONTEXT and MQCTL_URL are both set"},
	} {
		e := map[string]string{}
		if tc.mention == "MQCTL_CONTEXT and MQCTL_URL are both set" {
			e = map[string]string{"MQCTL_CONTEXT": "e", "MQCTL_URL": "nats://x"}
		}
		_, err := Resolve(f, tc.ov, env(e))
		if mqerr.KindOf(err) != mqerr.Usage || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%+v: %v, want usage error mentioning %q", tc.ov, err, tc.mention)
		}
		if err != nil && strings.Contains(err.Error(), "pw123") {
			t.Errorf("password in %q", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Context{URL: "amqp://u:pw@h/", Password: "p", Token: "t", PasswordEnv: "ENV"}.Redacted()
	if c.URL != "amqp://u:xxxxx@h/" || c.Password != "xxxxx" || c.Token != "xxxxx" || c.PasswordEnv != "ENV" {
		t.Errorf("%+v", c)
	}
}

// The login is taken field by field, most specific first: the user info of
// --url or MQCTL_URL, then MQCTL_USERNAME/MQCTL_PASSWORD, then the context
// (its fields, then its stored URL's user info), issue 11 item 5.
func TestResolveURLCredentials(t *testing.T) {
	f := &File{Contexts: []Context{
		{Name: "ctx", URL: "amqp://h/", Username: "ops", PasswordEnv: "CTX_PW"},
		{Name: "inurl", URL: "amqp://ops:stored-pw@h/"},
		{Name: "tok", URL: "nats://n", TokenEnv: "CTX_TOKEN"},
		{Name: "urltok", URL: "nats://stored-tok@n"},
	}}
	base := map[string]string{"CTX_PW": "ctx-pw", "CTX_TOKEN": "ctx-tok"}
	cases := []struct {
		name            string
		ov              Overrides
		env             map[string]string
		user, pw, token string
	}{
		{"-c with a bare --url keeps the context's login", Overrides{Context: "ctx", URL: "amqp://other/"}, nil, "ops", "ctx-pw", ""},
		{"--url's user and password win", Overrides{Context: "ctx", URL: "amqp://admin:url-pw@other/"}, nil, "admin", "url-pw", ""},
		{"--url's user alone keeps the context's password", Overrides{Context: "ctx", URL: "amqp://admin@other/"}, nil, "admin", "ctx-pw", ""},
		{"--url's password beats MQCTL_PASSWORD", Overrides{Context: "ctx", URL: "amqp://admin:url-pw@other/"}, map[string]string{"MQCTL_PASSWORD": "env-pw", "MQCTL_USERNAME": "env-user"}, "admin", "url-pw", ""},
		{"MQCTL_PASSWORD fills in a user-only --url", Overrides{Context: "ctx", URL: "amqp://admin@other/"}, map[string]string{"MQCTL_PASSWORD": "env-pw"}, "admin", "env-pw", ""},
		{"MQCTL_URL's login likewise", Overrides{}, map[string]string{"MQCTL_URL": "amqp://admin:url-pw@other/", "MQCTL_PASSWORD": "env-pw"}, "admin", "url-pw", ""},
		{"a stored URL's login is kept when --url replaces it", Overrides{Context: "inurl", URL: "amqp://other/"}, nil, "ops", "stored-pw", ""},
		{"MQCTL_PASSWORD beats the stored URL's password", Overrides{Context: "inurl"}, map[string]string{"MQCTL_PASSWORD": "env-pw"}, "", "env-pw", ""},
		{"a NATS token in --url beats the context's", Overrides{Context: "tok", URL: "nats://url-tok@n"}, nil, "", "", "url-tok"},
		{"a stored URL's token is kept", Overrides{Context: "urltok", URL: "nats://m"}, nil, "", "", "stored-tok"},
		{"a bare --url borrows nothing", Overrides{URL: "amqp://u:p@other/"}, map[string]string{"MQCTL_CONTEXT": "ctx"}, "u", "p", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range base {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			tg, err := Resolve(f, tc.ov, env(e))
			if err != nil {
				t.Fatal(err)
			}
			if tg.Username != tc.user || tg.Password != tc.pw || tg.Token != tc.token {
				t.Errorf("got user %q password %q token %q, want %q %q %q", tg.Username, tg.Password, tg.Token, tc.user, tc.pw, tc.token)
			}
		})
	}
}

// SecretEnv names the variables a context's secrets came from, so that
// consume --exec keeps them from its handlers (issue 11, item 12).
func TestResolveSecretEnv(t *testing.T) {
	f := &File{Contexts: []Context{{Name: "c", URL: "nats://n", PasswordEnv: "PW_VAR", Username: "u", TokenEnv: "TOK_VAR"}}}
	tg, err := Resolve(f, Overrides{Context: "c"}, env(map[string]string{"PW_VAR": "p", "TOK_VAR": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tg.SecretEnv, ",") != "PW_VAR,TOK_VAR" {
		t.Errorf("SecretEnv = %q", tg.SecretEnv)
	}
}

func TestResolveRefusesNegativeTimeouts(t *testing.T) {
	f := &File{Contexts: []Context{{Name: "neg", URL: "nats://n", Timeout: Duration(-time.Second)}, {Name: "ok", URL: "nats://n"}}}
	for _, ov := range []Overrides{{Context: "neg"}, {Context: "ok", Timeout: -time.Second}} {
		if _, err := Resolve(f, ov, env(nil)); mqerr.KindOf(err) != mqerr.Usage || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("%+v: %v, want a usage error about the timeout", ov, err)
		}
	}
}

// Redacted masks the password of every URL a context holds, whatever its
// field: each string field is set to a URL with a password (issue 11,
// item 11). A URL field added later is covered without touching the test.
func TestRedactedMasksEveryURL(t *testing.T) {
	var c Context
	v := reflect.ValueOf(&c).Elem()
	// Names of things, not secrets: shown as they are.
	references := []string{"Name", "Username", "PasswordEnv", "PasswordFile", "TokenEnv", "TokenFile", "CredsFile", "NKeyFile", "SASL"}
	for i := range v.NumField() {
		if v.Field(i).Kind() == reflect.String && !slices.Contains(references, v.Type().Field(i).Name) {
			v.Field(i).SetString("http://user:field-secret-" + strconv.Itoa(i) + "@h:15672")
		}
	}
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "field-secret-") {
		t.Errorf("Redacted() leaves a URL password:\n%s", out)
	}
}

// A context name that -c could not select, or that would act on a
// terminal where `context ls` shows it, is refused; others are kept.
func TestCheckContextName(t *testing.T) {
	for _, name := range []string{"", " ", " prod", "prod ", "prod,staging", "p\x1b[31m", "p\rq", "p\u202eq", "p\xff"} {
		c := Context{Name: name, URL: "kafka://h:9092"}
		if err := c.Check(); mqerr.KindOf(err) != mqerr.Usage {
			t.Errorf("name %q: %v, want a usage error", name, err)
		}
	}
	for _, name := range []string{"prod", "prod-kafka.eu_1", "prod kafka", "café"} {
		if err := checkName(name); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
}
