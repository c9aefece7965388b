package testenv

import "github.com/twmb/franz-go/pkg/kmsg"

// KafkaProduceError answers every partition of a Produce request with
// code, for kfake control functions that inject broker errors.
func KafkaProduceError(req kmsg.Request, code int16) kmsg.Response {
	pr := req.(*kmsg.ProduceRequest)
	resp := pr.ResponseKind().(*kmsg.ProduceResponse)
	for _, tp := range pr.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = tp.Topic
		for _, p := range tp.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// KafkaCommitError answers every partition of an OffsetCommit request
// with code.
func KafkaCommitError(req kmsg.Request, code int16) kmsg.Response {
	cr := req.(*kmsg.OffsetCommitRequest)
	resp := cr.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, tp := range cr.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = tp.Topic
		for _, p := range tp.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
