"""Webhook delivery: the RQ job that calls a dispatch's target (delivery.py) over a checked connection
(http.py)."""
