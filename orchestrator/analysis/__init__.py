"""Offline analysis: mock runtime, plan document, guardrails, RTO, failover simulation."""
