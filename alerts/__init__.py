"""Alerts: watch rules, matching, channels and delivery."""
