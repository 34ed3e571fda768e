package bluegreen

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
)

func TestSpecNamesPortsAndMetadataAreValidated(t *testing.T) {
	t.Parallel()
	good := func() Spec {
		return Spec{ActiveService: "web", PreviewService: "web-preview",
			ServicePorts:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}},
			ActiveMetadata:  PodMetadata{Labels: map[string]string{"role": "active"}, Annotations: map[string]string{"example.com/serving": "yes, all of it"}},
			PreviewMetadata: PodMetadata{Labels: map[string]string{"example.com/role": "preview"}},
		}
	}
	tests := map[string]struct {
		change func(s *Spec)
		paths  []string
	}{
		"valid":                      {change: func(*Spec) {}},
		"active Service not a name":  {change: func(s *Spec) { s.ActiveService = "Web_Svc!" }, paths: []string{"spec.activeService"}},
		"preview Service not a name": {change: func(s *Spec) { s.PreviewService = "Bad..Name" }, paths: []string{"spec.previewService"}},
		"Service name too long":      {change: func(s *Spec) { s.ActiveService = "a234567890123456789012345678901234567890123456789012345678901234" }, paths: []string{"spec.activeService"}},
		"port 0":                     {change: func(s *Spec) { s.ServicePorts[0].Port = 0 }, paths: []string{"spec.servicePorts[0].port"}},
		"port 65536":                 {change: func(s *Spec) { s.ServicePorts[1].Port = 65536 }, paths: []string{"spec.servicePorts[1].port"}},
		"unnamed among several":      {change: func(s *Spec) { s.ServicePorts[1].Name = "" }, paths: []string{"spec.servicePorts[1].name"}},
		"bad port name":              {change: func(s *Spec) { s.ServicePorts[0].Name = "HTTP_port" }, paths: []string{"spec.servicePorts[0].name"}},
		"bad protocol":               {change: func(s *Spec) { s.ServicePorts[1].Protocol = "ICMP" }, paths: []string{"spec.servicePorts[1].protocol"}},
		"bad target port":            {change: func(s *Spec) { s.ServicePorts[0].TargetPort = intstr.FromInt32(70000) }, paths: []string{"spec.servicePorts[0].targetPort"}},
		"bad active label key":       {change: func(s *Spec) { s.ActiveMetadata.Labels["bad key!"] = "x" }, paths: []string{"spec.activeMetadata.labels"}},
		"bad preview label value":    {change: func(s *Spec) { s.PreviewMetadata.Labels["example.com/role"] = "pre view" }, paths: []string{"spec.previewMetadata.labels"}},
		"bad annotation key":         {change: func(s *Spec) { s.ActiveMetadata.Annotations["bad key!"] = "x" }, paths: []string{"spec.activeMetadata.annotations"}},
		"switchyard's own label":     {change: func(s *Spec) { s.ActiveMetadata.Labels[strategy.LabelSlot] = "green" }, paths: []string{"spec.activeMetadata.labels"}},
		"preview replicas too big":   {change: func(s *Spec) { s.PreviewReplicas = ptr.To[int32](2147483647) }, paths: []string{"spec.previewReplicas"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := good()
			tc.change(&s)
			var v strategy.Validator
			s.validate(&v)
			got := map[string]bool{}
			if err := v.Err(); err != nil {
				var ve *strategy.ValidationError
				require.ErrorAs(t, err, &ve)
				for _, f := range ve.Fields {
					got[f.Path] = true
				}
			}
			want := map[string]bool{}
			for _, p := range tc.paths {
				want[p] = true
			}
			assert.Equal(t, want, got, "%v", v.Err())
		})
	}
}
