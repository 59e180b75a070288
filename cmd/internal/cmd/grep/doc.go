// Package grep is `mcpctl grep PATTERN` and `mcpctl @s grep PATTERN`: search the tools,
// resources, resource templates and prompts of every live session (or of one) by name,
// title and description, from the lists the bridges hold.
package grep
