package bootstrap_test

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func ExampleStrategy_Apply() {
	cluster := fake.NewCluster(fake.WithAutoAdvance())
	defer cluster.Stop()
	// The order of the documents does not matter.
	objs, err := bootstrap.Decode("shop.yaml", strings.NewReader(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      serviceAccountName: shop
      containers: [{name: shop, image: shop:1, envFrom: [{configMapRef: {name: shop}}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shop, namespace: shop}
data: {CURRENCY: EUR}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: shop, namespace: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`))
	if err != nil {
		panic(err)
	}
	s := bootstrap.New(cluster.Clients(), bootstrap.Spec{}, strategy.WithClock(cluster.Clock()))
	rel := strategy.Release{App: types.NamespacedName{Namespace: "shop", Name: "shop"}, Revision: "v1", Objects: objs}
	rep, err := s.Apply(context.Background(), rel)
	if err != nil {
		panic(err)
	}
	for _, o := range rep.Objects {
		fmt.Println(o.Action, o.Ref, o.Status.Status)
	}
	rep, err = s.Apply(context.Background(), rel)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Result.Message)
	// Output:
	// create Namespace shop Current
	// create ConfigMap shop/shop Current
	// create ServiceAccount shop/shop Current
	// create Deployment.apps shop/shop Current
	// 4 objects unchanged and current; nothing written
}
