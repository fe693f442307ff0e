"""Operations: pre-start checks today; systemd units, Prometheus rules and Grafana dashboards next."""
