"""Operations: pre-start checks, and the deployment assets rendered from the config (systemd units,
Prometheus scrape config and rules, Grafana dashboards)."""
