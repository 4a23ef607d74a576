"""Code that runs inside AWS Lambda.

Each function's archive contains this package (``lambda_src``) with ``common`` and the
function's own subpackage, so imports are the same in tests and in Lambda; third-party
dependencies (pymysql, Powertools) come from the layer built by
``components.lambda_packaging``.
"""
