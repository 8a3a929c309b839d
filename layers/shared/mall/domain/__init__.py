"""Business rules. Pure Python: no boto3, no network, no clock reads (time is passed in)."""
