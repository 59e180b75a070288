// Package events is `mcpctl events`: the lifecycle log (and, merged by time, server
// notifications), filtered, followed, as text, JSON or a template.
package events
