"""The composition roots: the only package that builds adapters. Each root reads `Settings` and wires the
adapters behind the ports its command needs; entry points parse their input, call a root, and see only
ports and the roots' own small types.

review     the review pipeline (models behind their guards, git worktrees, filters, redaction, the agent);
           `quorum review` and `quorum eval` run it over in-memory ports; serve and action build on it
serve      `quorum serve`: Redis coordination, the GitHub client, the daemon's parts, Elasticsearch
           metrics and Discord notifications
health     serve's GitHub link and `/readyz` probes
outlets    serve's service manager (systemd notify) and its Prometheus `/metrics`
action     `quorum action`: the workflow's token and checkout, coordination in memory or on Redis
operator   `quorum jobs`, `pr`, `budget` and `breaker`: the queue, spend, records and breakers on Redis
doctor     `quorum doctor`: the clients its probes use, each with the probe's timeout
provision  `quorum provision`: the Elasticsearch and Kibana clients

Nothing is built at import: a root is imported by the command that needs it, so `quorum --help` loads no
client library.
"""
