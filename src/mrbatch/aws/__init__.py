"""The AWS target: the same handlers and ASL definitions, on AWS services.

- `settings`: what a function reads from its environment, once, at its entry point;
- `clients`: boto3 clients, created lazily, once per container;
- `spec`: `AwsRegionSpec`, the `Region` of a function (S3, DynamoDB, SES, EMF, ...);
- `events`: S3 notification, EventBridge and Step Functions status events, decoded;
- `stepfunctions`: `StartExecution` under the deterministic name, idempotently;
- `presign`: links through the Multi-Region Access Point (SigV4A) or a regional bucket;
- `enrichment`: the enrichment API behind API Gateway (HTTP API, IAM authorization);
- `operations`: reconciliation on AWS (start work directly, list input versions);
- `lambdas`: the Lambda handlers, `(event, context)`, one thin function per step.

Nothing here creates a client or reads the environment at import.
"""
