package traffic

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type trafficSplit struct {
	Spec struct {
		Service  string `json:"service"`
		Backends []struct {
			Service string `json:"service"`
			Weight  int64  `json:"weight"`
		} `json:"backends"`
	} `json:"spec"`
}

func (r *resolver) trafficSplit(ctx context.Context, e Entry, res *Result) error {
	var ts trafficSplit
	if err := r.getCustom(ctx, KindTrafficSplit, trafficSplitGVRs, e.Namespace, e.Name, &ts); err != nil {
		return err
	}
	if _, err := r.m.Kube.CoreV1().Services(e.Namespace).Get(ctx, ts.Spec.Service, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("TrafficSplit %s/%s: reading root Service %s: %w", e.Namespace, e.Name, ts.Spec.Service, err)
	}
	total := 0.0
	for _, b := range ts.Spec.Backends {
		total += float64(max(b.Weight, 0))
	}
	if total == 0 {
		res.Unserved = 1
		return nil
	}
	for _, b := range ts.Spec.Backends {
		if b.Weight <= 0 {
			continue
		}
		shares, err := r.service(ctx, e.Namespace, b.Service, nil)
		if err != nil {
			return fmt.Errorf("TrafficSplit %s/%s: %w", e.Namespace, e.Name, err)
		}
		res.addServe(float64(b.Weight)/total, shares)
	}
	return nil
}
