"""Deploying mrbatch to AWS: render the templates in deploy/aws/, build the Lambda
artifacts, and apply the stacks in a fixed order with change sets (see docs/aws-deploy.md).

Nothing here runs inside a Lambda function: it is the operator's side (the CLI).
"""
