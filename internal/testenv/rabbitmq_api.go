package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// Call sends method path to the management API as the test broker's user,
// with body JSON-encoded when it is not nil, and decodes the answer into
// out when out is not nil. A DELETE of something already gone is fine.
func (e *RabbitMQEnv) Call(method, path string, body, out any) error {
	u, err := url.Parse(e.AMQPURL)
	if err != nil {
		return err
	}
	var rd bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd.Reset(b)
	}
	req, err := http.NewRequest(method, e.APIURL+path, &rd)
	if err != nil {
		return err
	}
	pass, _ := u.User.Password()
	req.SetBasicAuth(u.User.Username(), pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// MustCall is Call that fails t.
func (e *RabbitMQEnv) MustCall(t testing.TB, method, path string, body, out any) {
	t.Helper()
	if err := e.Call(method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

// NewVHost creates a vhost the test user may use, removed when t ends.
func (e *RabbitMQEnv) NewVHost(t testing.TB) string {
	t.Helper()
	name := UniqueName(t, "vh")
	u, err := url.Parse(e.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	e.MustCall(t, http.MethodPut, "/api/vhosts/"+name, nil, nil)
	t.Cleanup(func() { _ = e.Call(http.MethodDelete, "/api/vhosts/"+name, nil, nil) })
	e.MustCall(t, http.MethodPut, "/api/permissions/"+name+"/"+u.User.Username(),
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}, nil)
	return name
}
