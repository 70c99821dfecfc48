"""The request_approval function: stores a run's task token under an opaque approval ID, supersedes an older
run still waiting for approval of the same model, and posts the Slack message with Approve / Reject buttons.

``handler.py`` parses the event, ``approval.py`` holds the logic over three small interfaces, ``message.py``
builds the Block Kit message, and ``services.py`` implements the interfaces with boto3 and the Slack client
(the only module that talks to AWS or Slack).
"""
