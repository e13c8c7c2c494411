"""The step functions behind the workflows' Task states (Lambda handlers on AWS).

Each handler takes the event JSON and returns JSON, like a Lambda handler, and works on the
`Region` it runs in (`current_region()`), never on boto3 or sqlite3 directly. Handlers are
idempotent: a re-run after a crash gives the same objects and the same result, and every
side effect is fenced by the routing-control epoch the work started under.
"""
