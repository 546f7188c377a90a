// Package event carries what happens in the catalog to the people and
// systems who care: new or resolved vulnerability findings after a rescan,
// a tag that moved, a rescan that failed, and (from other catalog
// features) lifecycle transitions and requests. Events are CloudEvents 1.0
// ([Event]) with catalog-specific types (the Type constants) and JSON data.
//
// Producers emit to a [Sink]. Sinks in cssc:
//
//   - [Func]: a Go callback, for code in the same process;
//   - catalog/event/webhook: HMAC-signed HTTP webhooks (Standard Webhooks
//     signatures over CloudEvents' structured JSON), retried with backoff
//     and de-duplicated by event id; its Handler is the receiving side;
//   - [Multi] fans out to several sinks; [Async] decouples a slow sink
//     from its producer through a bounded queue;
//   - [Restrict] keeps a subscriber's sink to the events it may see:
//     events about an image of a restricted access level (see
//     catalog.AccessPolicy) go only to subscribers that serve one of the
//     level's groups. Wrap each webhook in it with the visibility of the
//     groups it serves; producers emit every event and need not know the
//     rules.
//
// Event ids are derived from the event's type, source, subject and data
// ([New]), so a producer that repeats work (a rescan retried after a crash)
// emits the same ids, and receivers and the webhook sender drop the
// duplicates: delivery is at least once, and each id is acted on once.
package event
