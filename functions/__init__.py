"""Lambda functions of the tooling account. The Lambda zip's root holds this package, so imports are the same
locally and in AWS (``functions.deploy.handler.handler``)."""
