"""fdleak exporter: the long-running Prometheus exporter (collector, HTTP server)."""
