package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

// A blue/green release whose promotion waits for a smoke-test service to
// pass the new revision, and whose outcome goes to a chat channel.
func Example() {
	ctx := context.Background()
	secret := []byte("shared with the smoke tests")
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()

	// The smoke-test service checks the signature, then passes the revision.
	smoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, cluster.Clock().Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		fmt.Printf("smoke tests of %s/%s %s (stable %q) through %s, %s\n", p.Namespace, p.App, p.Revision, p.StableRevision, p.Service, p.Moment)
	}))
	defer smoke.Close()

	// The chat channel's incoming webhook.
	var mu sync.Mutex
	var chat []string
	channel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhook.SlackMessage
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		chat = append(chat, m.Text)
		mu.Unlock()
	}))
	defer channel.Close()
	notifier := webhook.NewNotifier(channel.URL, webhook.Slack(), webhook.Only(strategy.EventRunFinished))

	s := bluegreen.New(cluster.Clients(), bluegreen.Spec{
		ActiveService: "web", PreviewService: "web-preview",
		ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		PrePromotion: []strategy.Check{webhook.Gate("smoke", smoke.URL,
			webhook.At(webhook.BeforePromotion), webhook.WithSecret(secret))},
	}, strategy.WithClock(cluster.Clock()), strategy.WithObserver(notifier.Observer()))

	web := types.NamespacedName{Namespace: "default", Name: "web"}
	for _, rev := range []string{"v1", "v2"} {
		if _, err := s.Run(ctx, strategy.Release{App: web, Revision: rev, Workload: exampleWorkload("web:" + rev)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := notifier.Close(ctx); err != nil { // sends what is queued
		fmt.Println(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, text := range chat {
		fmt.Println("chat:", text)
	}
	// Output:
	// smoke tests of default/web v1 (stable "") through web-preview, BeforePromotion
	// smoke tests of default/web v2 (stable "v1") through web-preview, BeforePromotion
	// chat: [bluegreen] default/web v1: RunFinished, phase Succeeded: v1 serves from slot blue
	// chat: [bluegreen] default/web v2: RunFinished, phase Succeeded: v2 serves from slot green
}

// A receiver checks each request's signature against the raw body before
// it trusts the payload.
func ExampleVerify() {
	secret := []byte("shared with the receiver")
	body := []byte(`{"check":"smoke","revision":"v2"}`)
	sent := time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)
	header := webhook.Sign(secret, sent, body)
	fmt.Println(header[:13])

	fmt.Println(webhook.Verify(secret, header, body, sent.Add(10*time.Second), time.Minute))
	fmt.Println(webhook.Verify(secret, header, []byte(`{"check":"smoke","revision":"v3"}`), sent, time.Minute))
	fmt.Println(webhook.Verify(secret, header, body, sent.Add(time.Hour), time.Minute))
	// Output:
	// t=1767268800,
	// <nil>
	// webhook signature invalid: no v1 signature matches the body
	// webhook signature invalid: timestamp 1767268800 is 1h0m0s away, more than 1m0s
}

// exampleWorkload is two pods of image behind the label app=web.
func exampleWorkload(image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}
