package analysis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Vars are the variables a query template sees, as {{.Revision}},
// {{.Namespace}} and so on; {{arg "name"}} or {{.Args.name}} read an
// argument of the analysis.
type Vars struct {
	// App and Namespace name the application.
	App, Namespace string
	// Revision is the new version; Stable the one serving before it.
	Revision, Stable string
	// Slot names the Deployment of the new version and Service the Service
	// that reaches it.
	Slot, Service string
	// Analysis names the analysis.
	Analysis string
	// Args are the analysis's arguments.
	Args map[string]string
}

// varsOf returns the variables of a run of a with input in.
func varsOf(a Analysis, in strategy.CheckInput) Vars {
	return Vars{
		App:       in.Release.App.Name,
		Namespace: in.Release.App.Namespace,
		Revision:  in.Release.Revision,
		Stable:    in.Stable,
		Slot:      in.Slot,
		Service:   in.Service,
		Analysis:  a.Name,
		Args:      a.Args,
	}
}

// placeholderVars stands in for a run's variables when a spec is validated.
func placeholderVars(a Analysis) Vars {
	return Vars{
		App: "app", Namespace: "namespace", Revision: "revision", Stable: "stable",
		Slot: "slot", Service: "service", Analysis: a.Name, Args: a.Args,
	}
}

// Render fills in a template with v: {{.Revision}}, {{.Stable}},
// {{.Namespace}}, {{.App}}, {{.Slot}}, {{.Service}}, {{.Analysis}},
// {{.Args.name}} or {{arg "name"}}. A missing argument is an error. Text
// without "{{" is returned as it is.
func (v Vars) Render(text string) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := v.template().Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// template is an empty template with the functions of Render.
func (v Vars) template() *template.Template {
	return template.New("query").Option("missingkey=error").Funcs(template.FuncMap{
		"arg": func(name string) (string, error) {
			val, ok := v.Args[name]
			if !ok {
				return "", fmt.Errorf("no argument %q", name)
			}
			return val, nil
		},
	})
}

// CheckTemplate reports whether text parses as a template of Render, for
// providers that validate templates of their own (URLs, bodies, headers).
func CheckTemplate(text string) error {
	_, err := Vars{}.template().Parse(text)
	return err
}

// CheckURL reports why raw is not an http or https URL with a host. Its
// errors never show the URL's secrets (see RedactURL).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return RedactError(err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		return errors.New("has no host")
	}
	return nil
}
