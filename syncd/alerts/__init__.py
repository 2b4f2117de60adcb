"""Alerting: rules (pure), the alert lifecycle, delivery to channels, the daily digest."""
