"""The promote function: moves an MLflow alias (``staging``, ``production``) to a model version and tags it.

``handler.py`` parses the event, ``promotion.py`` holds the logic over a small registry interface, and
``functions.common.mlflow_api`` implements that interface over MLflow's REST API (no mlflow package in Lambda).
"""
