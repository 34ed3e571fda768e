package judge

import "fmt"

// ConfigError reports an invalid option or argument given to a judge. Field
// names the offending option (for example "Confidence") or argument (for
// example "errCanary"); Message says what is wrong with it.
//
// Callers that wrap it can recover it with errors.As.
type ConfigError struct {
	Field   string
	Message string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("judge: invalid %s: %s", e.Field, e.Message)
}

func configErrorf(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// checkProbability returns an error unless 0 < v < 1.
func checkProbability(field string, v float64) error {
	if !(v > 0 && v < 1) { // also rejects NaN
		return configErrorf(field, "%v is outside (0, 1)", v)
	}
	return nil
}
