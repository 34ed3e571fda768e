package canary

// ReplicaSplit sizes the two slots for ReplicaRatio routing, where one
// Service selects both slots and, with no mesh, every ready pod gets an
// equal share of requests: the canary's share of traffic is its share of
// the pods.
//
// For a workload of total replicas and a canary weight in 0..100:
//
//   - with dynamicStable (the stable slot shrinks as its traffic falls):
//     canary = ceil(total × weight / 100) and stable = total − canary, but
//     stable keeps at least one pod until the weight is 100;
//   - without it the stable slot stays at total and the canary comes on
//     top: canary = ceil(weight × total / (100 − weight)), so that its share
//     of all the pods reaches the weight;
//   - a non-zero weight never means zero canary pods, and neither slot goes
//     below minPerSlot while it has traffic.
//
// With minPerSlot at most 1, the share the canary serves (ServedShare) is
// within one pod's share of the weight: |served − weight| < 100 / (canary
// + stable) percent. Weights 0 and 100 are exact.
func ReplicaSplit(total, weight, minPerSlot int32, dynamicStable bool) (canary, stable int32) {
	switch {
	case total <= 0:
		return 0, 0
	case weight <= 0:
		return 0, total
	case weight >= 100:
		return total, 0
	}
	floor := max(minPerSlot, 1)
	if !dynamicStable {
		canary = int32((int64(weight)*int64(total) + int64(100-weight) - 1) / int64(100-weight))
		return max(canary, floor), total
	}
	canary = int32((int64(total)*int64(weight) + 99) / 100)
	canary = min(max(canary, floor), total)
	return canary, max(total-canary, floor)
}

// ServedShare is the percentage of requests the canary serves when the two
// slots have canary and stable ready pods behind one Service.
func ServedShare(canary, stable int32) float64 {
	if canary+stable == 0 {
		return 0
	}
	return 100 * float64(canary) / float64(canary+stable)
}
