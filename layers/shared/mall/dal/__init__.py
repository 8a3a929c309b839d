"""Data access: the one place that talks to DynamoDB. Every entity's keys are listed in
docs/data-model.md; repositories translate between items and domain objects."""
