"""What a run exports to other monitoring systems: prometheus.py (metrics, /metrics, textfile,
Pushgateway) and prometheus_rules.py (the runbook as Prometheus alerting rules)."""
