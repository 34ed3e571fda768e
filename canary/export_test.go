package canary

import "github.com/switchyard-dev/switchyard/strategy"

// ValidateSteps exposes the schedule's validation, without a router, to
// the package's tests.
func ValidateSteps(v *strategy.Validator, steps []Step, headers, mirror bool) {
	validateSteps(v, steps, headers, mirror, nil)
}
