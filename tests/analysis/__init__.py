"""Tests of the offline analysis: guardrails and the policy pack."""
