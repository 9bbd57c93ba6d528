"""Operating Greenroom: health and readiness, Prometheus metrics, access and worker logs."""
