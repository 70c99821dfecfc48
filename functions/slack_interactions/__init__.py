"""The slack_interactions function: Slack's Approve / Reject clicks, behind API Gateway (HTTP API).

``handler.py`` turns the HTTP event into a verified click and the outcome into an HTTP response,
``verify.py`` checks Slack's request signature, ``models.py`` parses settings and the interaction payload,
``interactions.py`` holds the decision logic over three small interfaces, and ``services.py`` implements them
with boto3 and the Slack client (the only module that talks to AWS or Slack).
"""
