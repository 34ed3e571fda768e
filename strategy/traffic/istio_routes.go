package traffic

// Header routes and mirrors of IstioVirtualService.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// SetHeaderRoute implements HeaderRouter.
func (s *IstioVirtualService) SetHeaderRoute(ctx context.Context, name string, matches []HeaderMatch) error {
	if err := checkHeaderRoute(name, matches, 0); err != nil {
		return err
	}
	headers := map[string]any{}
	for _, m := range matches {
		kind := map[string]string{"": "exact", HeaderExact: "exact", HeaderPrefix: "prefix", HeaderRegularExpression: "regex"}[m.Type]
		headers[strings.ToLower(m.Name)] = map[string]any{kind: m.Value}
	}
	_, _, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		routes, err := s.httpRoutes(u)
		if err != nil {
			return err
		}
		routes = slices.DeleteFunc(routes, func(r map[string]any) bool {
			n, ok := headerRouteOf(routeName(r))
			return ok && n == name
		})
		idx, err := s.splittable(routes)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(routes)+len(idx))
		for i, r := range routes {
			if k := slices.Index(idx, i); k >= 0 {
				out = append(out, s.headerRoute(r, headerRouteName(name, k), headers))
			}
			out = append(out, r)
		}
		return setHTTPRoutes(u, out)
	})
	return err
}

// headerRoute copies weighted route base into a route that sends requests
// with headers to the canary.
func (s *IstioVirtualService) headerRoute(base map[string]any, name string, headers map[string]any) map[string]any {
	r := runtime.DeepCopyJSON(base)
	r["name"] = name
	matches, _ := r["match"].([]any)
	if len(matches) == 0 {
		matches = []any{map[string]any{}}
	}
	for _, m := range matches {
		mm, ok := m.(map[string]any)
		if !ok {
			continue
		}
		h, _ := mm["headers"].(map[string]any)
		if h == nil {
			h = map[string]any{}
		}
		for k, v := range headers {
			h[k] = runtime.DeepCopyJSONValue(v)
		}
		mm["headers"] = h
	}
	r["match"] = matches
	for _, d := range destinations(r) {
		if s.isService(s.hostOf(d), s.CanaryService) {
			d["weight"] = int64(100)
			r["route"] = []any{d}
		}
	}
	if s.mirrorsCanary(r) {
		deleteMirror(r)
	}
	return r
}

// RemoveHeaderRoutes implements HeaderRouter.
func (s *IstioVirtualService) RemoveHeaderRoutes(ctx context.Context) error {
	_, _, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		routes, err := s.httpRoutes(u)
		if err != nil {
			return err
		}
		return setHTTPRoutes(u, slices.DeleteFunc(routes, func(r map[string]any) bool {
			_, ok := headerRouteOf(routeName(r))
			return ok
		}))
	})
	return err
}

func (s *IstioVirtualService) mirrorsCanary(r map[string]any) bool {
	h, ok, _ := unstructured.NestedString(r, "mirror", "host")
	return ok && s.isService(h, s.CanaryService)
}

func deleteMirror(r map[string]any) {
	delete(r, "mirror")
	delete(r, "mirrorPercentage")
	delete(r, "mirrorPercent")
}

// SetMirror implements MirrorRouter.
func (s *IstioVirtualService) SetMirror(ctx context.Context, name string, percent int32) error {
	if err := checkMirror(name, percent); err != nil {
		return err
	}
	_, _, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		routes, err := s.httpRoutes(u)
		if err != nil {
			return err
		}
		idx, err := s.splittable(routes)
		if err != nil {
			return err
		}
		for _, i := range idx {
			r := routes[i]
			if _, ok := r["mirror"]; ok && !s.mirrorsCanary(r) {
				return fmt.Errorf("%s: spec.http[%d] already mirrors to %v; not replacing it", s.Name(), i, r["mirror"])
			}
			deleteMirror(r)
			for _, d := range destinations(r) {
				if s.isService(s.hostOf(d), s.CanaryService) {
					r["mirror"] = runtime.DeepCopyJSONValue(d["destination"])
				}
			}
			r["mirrorPercentage"] = map[string]any{"value": int64(percent)} // a whole number reads back as int64, so a repeat is no write
		}
		return setHTTPRoutes(u, routes)
	})
	return err
}

// RemoveMirrors implements MirrorRouter.
func (s *IstioVirtualService) RemoveMirrors(ctx context.Context) error {
	_, _, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		routes, err := s.httpRoutes(u)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if s.mirrorsCanary(r) {
				deleteMirror(r)
			}
		}
		return setHTTPRoutes(u, routes)
	})
	return err
}
