// Package credits holds the billing rules that are not SQL: the month that
// the monthly SMS limit counts in.
package credits

import "time"

// DefaultMonthlyLimit is the standard SMS a workspace may send each month.
const DefaultMonthlyLimit = 200

// Month returns the start of the calendar month containing now in loc (the
// workspace's time zone), as a UTC instant, and its label ("2026-12").
func Month(now time.Time, loc *time.Location) (start time.Time, label string) {
	local := now.In(loc)
	start = time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
	return start.UTC(), start.Format("2006-01")
}
