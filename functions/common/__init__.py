"""Code shared by the functions, kept small: structured JSON logging, cached secrets, the Slack client and
Block Kit pieces, and a minimal MLflow REST client (Lambda ships no mlflow package)."""
