"""The runbook's judgement over the history, pure: (runs in a window, now, policy) → findings.

metrics.py    how each runbook metric is computed from one run's checks (the table)
window.py     sums over any window of a series (prefix sums)
rates.py      the alerting thresholds: info / warning / critical, insufficient data
rollback.py   the immediate rollback triggers → Plan A, B, C or Security Incident Response
stability.py  the 24-hour verdict and the 7-day "migration done"
evaluate.py   all of it at once for one series (what finish.py and the report call)
"""
