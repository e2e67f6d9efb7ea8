extension AsyncCall: QueueProducer {}
