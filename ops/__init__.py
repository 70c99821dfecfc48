"""Operations runbook commands, one module per command, each a CLI (``python -m ops.<name> --help``).

``rollback``       roll stage or prod back to the version it ran before, move the MLflow alias back and say so in
                   Slack (``make rollback ENV=prod``)
``lambda_invoke``  the one way these commands call the tooling account's functions (boto3 ``lambda:Invoke``)
``stack_outputs``  reads ``pulumi stack output --json`` so commands find the functions without hard-coded names

The README's "Operations" section has every runbook; the steps that are plain AWS CLI or Pulumi commands are
written there, not wrapped here.
"""
