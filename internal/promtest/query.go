package promtest

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// ErrorRatioQuery is the PromQL share of app's version requests that failed
// with a 5xx code over the last window, as the Exporter counts them. It
// reads 0 for a version without errors and nothing before two scrapes.
func ErrorRatioQuery(app, version string, window time.Duration) string {
	sel := fmt.Sprintf(`%s{app=%q,version=%q`, MetricName, app, version)
	w := model.Duration(window).String()
	return fmt.Sprintf(`sum(rate(%s,code=~"5.."}[%s])) / sum(rate(%s}[%s]))`, sel, w, sel, w)
}
