"""The pipeline in a box: the real state machine and handlers against local stand-ins for AWS and Slack.

run.py           the command (``python -m local.pipeline``, ``make demo``): scenarios, progress, summary
cloud.py         moto, MLflow with basic auth, the Slack stand-in and its interactions endpoint
deployment.py    the three stacks of one model, deployed into the local cloud; what a person checks
registry.py      the functions, tables and event rules of the tooling stack (the one mirror of infra/)
lambdas.py       the local Lambda service; lambda_runtime.py is one execution environment
moto_patches.py  what moto lacks for this pipeline, fixed while the cloud runs
eventbridge.py   rule matching and delivery moto does not do; Step Functions status events
codebuild.py     the substituted Build step; buildspec.py runs a buildspec as CodeBuild does
images.py        "images" as build contexts, by digest; source.py the model repository (git)
slack_app.py     Slack's signed click; progress.py and summary.py what the command prints
"""
