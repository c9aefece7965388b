// Package sandbox runs real brokers on this machine: Kafka (kfake) and NATS
// with JetStream embedded in the process, and RabbitMQ as an isolated child
// rabbitmq-server. `mqctl sandbox` and the tests use it.
package sandbox
