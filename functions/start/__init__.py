"""The start function: the target of the push-to-main EventBridge rule; starts one pipeline run per commit.

``handler.py`` parses the event and shapes the result, ``models.py`` reads the event and names the execution,
``starter.py`` starts it at most once over a small interface, and ``sfn_api.py`` implements that interface with
boto3 (the only module that imports it). ``rerun.py`` is the command line that starts a commit again on purpose.
"""
