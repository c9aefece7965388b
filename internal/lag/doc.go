// Package lag is the broker-independent core of `mqctl lag`: one Row type for
// a Kafka partition, a RabbitMQ queue or a JetStream consumer, a Burrow-style
// evaluator for --watch, the Nagios verdict for --check, and the table and
// Prometheus renderings. It never talks to a broker; the readers in the
// driver packages fill Rows and the command wires them to these functions.
//
// # Evaluation rules (--watch, --check --rules)
//
// The rules are adapted from Burrow's consumer evaluation. A Window keeps the
// last K samples (committed offset, end offset, lag) of every row, K being
// --samples; Evaluate judges one row's samples, oldest first. Like Burrow,
// it judges only a full window, and it counts samples rather than seconds,
// so the verdict on unchanged data never depends on when a refresh came.
// The rules apply in this order and the first that matches wins:
//
//  1. Fewer than K samples: no verdict (the table shows "-", --check
//     --rules counts the row UNKNOWN). A verdict on part of the window
//     would change as the window fills.
//  2. REWIND: the committed offset decreased between two consecutive samples
//     (an offset reset or a consumer restarting from an older position).
//     It stays reported until that pair of samples leaves the window.
//  3. OK: the lag of the newest sample is 0 (caught up).
//  4. STOP: the committed offset is the same in every sample, the lag is
//     above 0 in every sample, and the offset has not moved for at least
//     2K-1 consecutive samples (two windows; Sample.Still counts them):
//     the consumer looks gone.
//  5. STALL: the committed offset is the same in every sample and the lag
//     is above 0 in every sample, for less than two windows: the consumer
//     is not committing while work waits (Burrow's STALLED), whether or not
//     new messages arrived during the window.
//  6. WARN: the lag never decreased between consecutive samples and the
//     newest lag is above the oldest: the consumer is falling behind.
//  7. OK otherwise.
//
// Rules 2, 4 and 5 need a committed offset (Committed >= 0) in every
// sample. Rows without offsets, such as RabbitMQ queues, are judged by
// rules 1, 3, 6 and 7 only. Status.Trend is always the newest lag minus the
// oldest.
//
// # Check (Nagios)
//
// Check maps rows to the Nagios exit codes 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN;
// see Check for how thresholds, rules and missing data combine.
package lag
