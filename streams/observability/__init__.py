"""Metrics (`metrics`), the Event Match Quality poller (`emq`) and logging (`logging`)."""
