package ghsim

// DeliveryInfo is one webhook delivery as the app's deliveries API shows it.
type DeliveryInfo struct {
	Event, Action string
	Attempted     bool
	StatusCode    int // 0 when the receiver could not be reached
}

// Deliveries lists the webhook deliveries in the order they were queued,
// for tests that need to know a delivery was attempted.
func (s *Server) Deliveries() []DeliveryInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeliveryInfo, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		out = append(out, DeliveryInfo{Event: d.event, Action: d.action, Attempted: d.attempted, StatusCode: d.statusCode})
	}
	return out
}
