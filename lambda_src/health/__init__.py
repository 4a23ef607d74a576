"""Regional health check: is this region's Aurora cluster a healthy, reachable writer?

``check`` holds the logic (plain functions taking a connection factory and AWS clients)
and the metric contract; ``handler`` is the Lambda entry point
(``lambda_src.health.handler.handler``), invoked every minute by EventBridge.
"""
