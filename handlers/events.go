package handlers

import "github.com/palantir/go-githubapp/githubapp"

// Webhooks are the webhook handlers, one per event: the one list that the
// dispatcher serves, redelivery asks GitHub again for, and the metrics
// label. Adding an event is adding its handler here.
func Webhooks(b Base) []githubapp.EventHandler {
	return []githubapp.EventHandler{
		&WorkflowRun{Base: b},
		&WorkflowJob{Base: b},
		&Release{Base: b},
		&Push{Base: b},
		&PullRequest{Base: b},
		&CheckSuite{Base: b},
		&CheckRun{Base: b},
		&Status{Base: b},
	}
}

// Events lists the events the Webhooks handle, in their order.
func Events() []string {
	var events []string
	for _, h := range Webhooks(Base{}) {
		events = append(events, h.Handles()...)
	}
	return events
}
