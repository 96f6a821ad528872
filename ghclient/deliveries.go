package ghclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v66/github"
)

// Delivery is one attempt GitHub made to deliver a webhook to the App.
type Delivery struct {
	ID            int64
	GUID          string // X-GitHub-Delivery: the same for every attempt
	Event, Action string
	DeliveredAt   time.Time
	OK            bool // answered with a 2xx
}

// Deliveries lists the App's webhook delivery attempts made since the
// time, newest first. It authenticates as the App, not the installation.
func (c *Client) Deliveries(ctx context.Context, since time.Time) ([]Delivery, error) {
	app, err := c.creator.NewAppClient()
	if err != nil {
		return nil, fmt.Errorf("app client: %w", err)
	}
	var out []Delivery
	opts := &github.ListCursorOptions{PerPage: 100}
	for {
		ds, resp, err := app.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list hook deliveries: %w", err)
		}
		for _, d := range ds {
			at := d.GetDeliveredAt().Time
			if at.Before(since) {
				return out, nil
			}
			code := d.GetStatusCode()
			out = append(out, Delivery{
				ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(), Action: d.GetAction(),
				DeliveredAt: at, OK: code >= 200 && code < 300,
			})
		}
		if resp.Cursor == "" {
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
}

// Redeliver asks GitHub to make another attempt at a delivery.
func (c *Client) Redeliver(ctx context.Context, id int64) error {
	app, err := c.creator.NewAppClient()
	if err != nil {
		return fmt.Errorf("app client: %w", err)
	}
	_, _, err = app.Apps.RedeliverHookDelivery(ctx, id)
	var accepted *github.AcceptedError
	if err != nil && !errors.As(err, &accepted) {
		return fmt.Errorf("redeliver %d: %w", id, err)
	}
	return nil
}
