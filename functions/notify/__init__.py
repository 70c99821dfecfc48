"""The notify function: a pipeline run's progress in one Slack thread (started, then succeeded or failed).

``handler.py`` parses the event, ``notifier.py`` holds the logic (which message, where, bounded retries) over a
small chat interface, ``message.py`` builds the Block Kit messages and ``services.py`` implements the chat with
the bot token from Secrets Manager and ``functions.common.slack`` (the only module that talks to AWS or Slack).
"""
