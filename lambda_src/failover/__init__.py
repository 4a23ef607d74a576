"""Automated failover of an Aurora global database, decided outside the writer's region.

``decision`` is the pure rule table (the quorum); ``facts`` reads what it needs from the
decider's own region and the other surviving regions (the writer region's metric only as a
prefetched veto); ``store`` is one region's failover table; ``lock`` the flight lock and arm
state across regions, shared with ``infra failover``; ``budget`` the timing model (RTO per
outage path, RPO bound, settings check); ``handler`` the decider Lambda of every region.
The probes that produce the facts are ``lambda_src.probe``.
"""
