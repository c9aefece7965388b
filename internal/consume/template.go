package consume

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// checkTemplate finds, without running t, the fields and methods it names
// that a message does not have: .NoSuchField, .Value.Foo, $.Nope. Parsing
// already refused unknown functions and bad syntax. Running the template
// on a made-up message instead would refuse templates that are valid for
// every real one ({{slice .Value 0 2}} on an empty value).
//
// Only what is known to be evaluated on the message is checked: inside
// range and with, dot is something else, and variables other than $ are
// not followed.
func checkTemplate(t *template.Template) error {
	root := reflect.TypeFor[TemplateData]()
	c := &templateChecker{root: root}
	c.list(t.Tree.Root, root)
	return c.err
}

type templateChecker struct {
	root reflect.Type
	err  error
}

// list checks the nodes of l with dot of type dot (nil: unknown).
func (c *templateChecker) list(l *parse.ListNode, dot reflect.Type) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n, dot)
	}
}

func (c *templateChecker) node(n parse.Node, dot reflect.Type) {
	if c.err != nil || n == nil {
		return
	}
	switch n := n.(type) {
	case *parse.ActionNode:
		c.pipe(n.Pipe, dot)
	case *parse.IfNode:
		c.pipe(n.Pipe, dot)
		c.list(n.List, dot)
		c.list(n.ElseList, dot)
	case *parse.RangeNode:
		c.pipe(n.Pipe, dot)
		c.list(n.List, nil)
		c.list(n.ElseList, dot)
	case *parse.WithNode:
		c.pipe(n.Pipe, dot)
		c.list(n.List, nil)
		c.list(n.ElseList, dot)
	case *parse.TemplateNode:
		c.pipe(n.Pipe, dot)
	case *parse.ListNode:
		c.list(n, dot)
	case *parse.PipeNode:
		c.pipe(n, dot)
	case *parse.CommandNode:
		for _, a := range n.Args {
			c.node(a, dot)
		}
	case *parse.FieldNode:
		c.path(dot, n.Ident, n.String())
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			c.path(c.root, n.Ident[1:], n.String())
		}
	case *parse.ChainNode:
		c.node(n.Node, dot)
	}
}

func (c *templateChecker) pipe(p *parse.PipeNode, dot reflect.Type) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		c.node(cmd, dot)
	}
}

// path follows idents from t as text/template would and records the first
// one that t has not.
func (c *templateChecker) path(t reflect.Type, idents []string, text string) {
	for _, id := range idents {
		if t == nil || c.err != nil {
			return
		}
		next, ok, known := member(t, id)
		if !known {
			return
		}
		if !ok {
			c.err = fmt.Errorf("%s: %s has no field or method %s%s", text, typeName(t, c.root), id, c.hint(t))
			return
		}
		t = next
	}
}

// member is what .id gives on a value of type t: a method's first result
// or a field's type. known is false when t cannot be checked (maps,
// interfaces).
func member(t reflect.Type, id string) (next reflect.Type, ok, known bool) {
	if m, found := t.MethodByName(id); found {
		if m.Type.NumOut() == 0 {
			return nil, true, true
		}
		return m.Type.Out(0), true, true
	}
	if m, found := reflect.PointerTo(t).MethodByName(id); found && t.Kind() != reflect.Pointer {
		if m.Type.NumOut() == 0 {
			return nil, true, true
		}
		return m.Type.Out(0), true, true
	}
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	switch base.Kind() {
	case reflect.Struct:
		f, found := base.FieldByName(id)
		if !found || !f.IsExported() {
			return nil, false, true
		}
		return f.Type, true, true
	case reflect.Map, reflect.Interface:
		return nil, false, false
	}
	return nil, false, true
}

func typeName(t, root reflect.Type) string {
	if t == root {
		return "a message"
	}
	return t.String()
}

// hint lists what a message has, when the name was looked up on one.
func (c *templateChecker) hint(t reflect.Type) string {
	if t != c.root {
		return ""
	}
	var names []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			names = append(names, "."+f.Name)
		}
	}
	for i := range t.NumMethod() {
		names = append(names, "."+t.Method(i).Name)
	}
	slices.Sort(names)
	return " (it has " + strings.Join(names, " ") + ")"
}
