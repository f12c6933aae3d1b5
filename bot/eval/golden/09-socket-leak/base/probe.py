"""Health probes for the load balancer."""

TIMEOUT_S = 2.0
