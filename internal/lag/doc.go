// Package lag is the broker-independent core of `mqctl lag`: one Row type for
// a Kafka partition, a RabbitMQ queue or a JetStream consumer, a Burrow-style
// evaluator for --watch, the Nagios verdict for --check, and the table and
// Prometheus renderings. It never talks to a broker; the readers in the
// driver packages fill Rows and the command wires them to these functions.
//
// # Evaluation rules (--watch, --check --rules)
//
// The rules are adapted from Burrow's consumer evaluation. A Window keeps the
// last K samples (committed offset, end offset, lag) of every row; Evaluate
// judges one row's samples, oldest first, at time now, against a duration
// window that should be the span K samples are meant to cover, normally
// (K-1) × the sampling interval. The rules apply in this order and the first
// that matches wins:
//
//  1. Fewer than 2 samples: OK with reason "warming up". One sample shows no
//     movement, and a watch that has just started must not alarm. --check
//     --rules should collect K samples before judging; there a row with no
//     status at all is UNKNOWN.
//  2. REWIND: the committed offset decreased between two consecutive samples
//     (an offset reset or a consumer restarting from an older position).
//     It stays reported until that pair of samples leaves the window.
//  3. OK: the lag of the newest sample is 0 (caught up).
//  4. STOP: the committed offset is the same in every sample, the lag is
//     above 0 in every sample, and now minus the oldest sample's time is at
//     least window: we have watched it not commit for a whole window.
//  5. STALL: the committed offset is the same in every sample, the lag is
//     above 0 in every sample, and the end offset advanced from the oldest to
//     the newest sample: messages keep arriving and the consumer is stuck
//     (Burrow's "committing the same offset"), but not yet for a whole window.
//  6. WARN: the lag never decreased between consecutive samples and the
//     newest lag is above the oldest: the consumer is falling behind.
//  7. OK otherwise.
//
// Rules 2, 4 and 5 need a committed offset (Committed >= 0) in every sample,
// and rule 5 an end offset (End >= 0) in the oldest and newest sample. Rows
// without offsets, such as RabbitMQ queues, are judged by rules 1, 3, 6 and 7
// only. Status.Trend is always the newest lag minus the oldest.
//
// # Check (Nagios)
//
// Check maps rows to the Nagios exit codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN;
// see Check for how thresholds, rules and missing data combine.
package lag
