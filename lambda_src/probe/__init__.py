"""SQL write probe of the current writer, run in every region (issue 13, "facts that survive").

``lambda_src.common.heartbeat`` is the SQL (shared with bootstrap); ``probe`` classifies one
attempt as alive, dead or inconclusive; ``handler`` wires it and publishes each attempt in
the probe's own region.
"""
