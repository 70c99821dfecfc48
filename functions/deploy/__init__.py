"""The deploy function: moves a model image onto the stage or prod inference Lambda's alias ``live``.

``handler.py`` parses the event, ``actions.py`` holds the logic (deploy, shift, promote, rollback) against
two small interfaces, and ``lambda_api.py`` implements them with boto3 (the only module that imports it).
"""
