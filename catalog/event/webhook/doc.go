// Package webhook delivers catalog events (catalog/event) to HTTP
// endpoints, and receives them.
//
// [Sender] is an event.Sink: each event is POSTed as CloudEvents JSON
// (structured mode, "application/cloudevents+json") and signed as the
// Standard Webhooks specification says: the headers webhook-id (the event
// id), webhook-timestamp (Unix seconds) and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>"). Failed deliveries are
// retried with exponential backoff and jitter; an event id already
// delivered is not sent again.
//
// [Handler] is the receiving side, an http.Handler for a consumer written
// in Go: it checks the signature and the timestamp (against replays),
// drops event ids it has already handled, and hands each event to an
// event.Sink (an event.Func callback, typically). Receivers in other
// languages verify requests with any Standard Webhooks library.
package webhook
