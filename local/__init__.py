"""The local stack runner: the SAM template's API, functions, tables, queues, schedules
and stream triggers on this machine, without Docker (``python -m local run``).

Modules: ``template`` (read and resolve the template, with ``cfn_yaml``, ``intrinsics`` and
``template_model``), ``dynamodb`` (DynamoDB Local),
``lambda_runtime`` (handlers in-process), ``apigw`` (the HTTP API), ``scheduler``,
``streams``, ``queues`` (moto SQS/S3), ``filtering`` (FilterCriteria), ``stack`` (all of
it together), ``testing`` (pytest fixtures), ``__main__`` (the CLI).
"""
