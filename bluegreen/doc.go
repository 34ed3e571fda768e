// Package bluegreen will ship a new version of an app next to the live one and
// switch traffic to it at once: two slots (<app>-blue and <app>-green), a
// preview Service for testing the idle slot, a single selector write for the
// switch, endpoint verification after it, and an instant switch back while
// the old slot still runs.
//
// Not implemented yet: the package holds only this description.
package bluegreen
