"""Guarded automated failover of an Aurora global database, run in a secondary region.

``decision`` is the pure rule table; ``facts`` reads what the rules need from
CloudWatch, RDS and the lock table; ``lock`` is the DynamoDB lease and cooldown record;
``events`` recognises the triggers; ``handler`` wires them and reports every decision.
"""
