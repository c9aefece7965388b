package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// assign is the group's OnPartitionsAssigned: partitions get their state
// before any of their records can be fetched. kgo calls it after every
// join, with nothing added too, which is how a member learns it holds its
// assignment.
func (k *reader) assign(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for topic, ids := range added {
		for _, id := range ids {
			tp := topicPartition{topic, id}
			if k.parts[tp] == nil {
				k.parts[tp] = k.newPartition(tp)
			}
		}
	}
	k.assigned.Store(true)
	k.wakeUp()
}

// Assigned implements broker.Assignment: the partitions this member
// reads now (all of them without a group).
func (k *reader) Assigned() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.parts)
}

// adjust is the group's AdjustFetchOffsetsFn: it learns where each newly
// assigned partition starts (the commit, or the reset offset without one)
// and applies an explicit From to a partition's first assignment.
func (k *reader) adjust(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for topic, ids := range offsets {
		for id, o := range ids {
			tp := topicPartition{topic, id}
			at := o.EpochOffset().Offset
			if explicit, ok := k.explicit[tp]; ok && !k.seen[tp] {
				ids[id] = kgo.NewOffset().At(explicit)
				at = explicit
			}
			k.seen[tp] = true
			// Without a commit the offset is relative (the reset
			// offset, the start); a commit below the start is reset
			// there by kgo.
			at = max(at, k.start(tp))
			p := k.parts[tp]
			if p == nil {
				p = k.newPartition(tp)
				k.parts[tp] = p
			}
			p.mu.Lock()
			p.t = newTracker(at)
			p.mu.Unlock()
			if at >= p.end {
				k.finish(p)
			}
		}
	}
	return offsets, nil
}

// revoke is the group's OnPartitionsRevoked: it commits what was handled
// so the next owner starts there, then lets the partitions go. kgo calls
// it at the end of every session, with nothing revoked too. The commit is
// the last one for the revoked partitions, so it is retried like Close's.
//
// The rebalance waits for revoke: the new owner of the partitions gets
// them only once it returned, and in an eager rebalance the whole group
// waits, up to the rebalance timeout, after which it drops this member
// and refuses its commits. So the retries get the target's timeout, what
// the single commit they replace could already take, and at most half the
// rebalance timeout, which leaves the other half for the rejoin.
func (k *reader) revoke(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	k.commitMu.Lock()
	defer k.commitMu.Unlock()
	within := min(k.timeout, cl.OptValue(kgo.RebalanceTimeout).(time.Duration)/2)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := k.commitRetrying(ctx, cl); err != nil {
		// Not rate-limited with the retry warnings: it is rare, final, and
		// says records will be read again.
		k.warn.logf("kafka commit before a rebalance failed: %v; the next owner of these partitions reads some records again", err)
	}
	k.drop(revoked)
}

// lose is the group's OnPartitionsLost: this member was thrown out of the
// group, so a commit would be refused; deliveries still out go stale.
func (k *reader) lose(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	k.commitMu.Lock()
	defer k.commitMu.Unlock()
	k.drop(lost)
}

// drop forgets partitions this member no longer holds.
func (k *reader) drop(gone map[string][]int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for topic, ids := range gone {
		for _, id := range ids {
			tp := topicPartition{topic, id}
			if p := k.parts[tp]; p != nil {
				delete(k.parts, tp)
				p.leave()
				k.finish(p)
			}
		}
	}
	if len(k.parts) == 0 {
		// Wait for the next assignment before answering io.EOF.
		k.assigned.Store(false)
	}
}

// leave makes p's deliveries stale.
func (p *partition) leave() {
	p.mu.Lock()
	p.gone.Store(true)
	p.mu.Unlock()
}

// commitLoop commits acked offsets every commitInterval until ctx ends.
func (k *reader) commitLoop(loopCtx context.Context) {
	defer close(k.loopDone)
	tick := time.NewTicker(commitInterval)
	defer tick.Stop()
	for {
		select {
		case <-loopCtx.Done():
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(loopCtx, k.timeout)
			k.commitMu.Lock()
			err := k.commit(ctx, k.cl)
			k.commitMu.Unlock()
			cancel()
			if err != nil && loopCtx.Err() == nil {
				k.warn.warnf("kafka commit for the group failed: %v; retrying", err)
			}
		}
	}
}

// commit commits every partition whose handled prefix moved since its last
// commit. The caller holds commitMu.
func (k *reader) commit(ctx context.Context, cl *kgo.Client) error {
	type sent struct {
		p  *partition
		at int64
	}
	var (
		list    []sent
		offsets = map[string]map[int32]kgo.EpochOffset{}
	)
	k.mu.Lock()
	for _, p := range k.parts {
		p.mu.Lock()
		if cp, ok := p.t.uncommitted(); ok {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: cp.epoch, Offset: cp.offset}
			list = append(list, sent{p, cp.offset})
		}
		p.mu.Unlock()
	}
	k.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	if err := send(ctx, cl, offsets); err != nil {
		return err
	}
	for _, s := range list {
		s.p.mu.Lock()
		s.p.t.commit(s.at)
		s.p.mu.Unlock()
	}
	return nil
}

// commitRetrying is a last commit (at Close, or of partitions revoked):
// nothing retries it later, so a retriable refusal (a coordinator moving
// or loading, a request timing out) or a closed connection is tried again
// until ctx ends, rather than leaving the handled records to be read
// again. The caller holds commitMu.
func (k *reader) commitRetrying(ctx context.Context, cl *kgo.Client) error {
	backoff := 50 * time.Millisecond
	for {
		err := k.commit(ctx, cl)
		if err == nil || !retriableCommitErr(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// retriableCommitErr reports whether a failed commit may succeed if sent
// again: a retriable refusal, or a connection the broker closed. kgo
// resends a request whose connection closed itself, except when it was
// the first on a new connection (ErrFirstReadEOF: its guess is a missing
// SASL login, which cannot be the case for a consumer that got records).
func retriableCommitErr(err error) bool {
	var firstEOF *kgo.ErrFirstReadEOF
	return kerr.IsRetriable(err) || kgo.IsRetryableBrokerErr(err) || errors.As(err, &firstEOF)
}

// send commits offsets synchronously.
func send(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var err error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, reqErr error) {
		if reqErr != nil {
			err = reqErr
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && err == nil {
					err = perr
				}
			}
		}
	})
	return err
}
