"""Monthly reports."""

import boto3

AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def render(rows):
    """The report as CSV text."""
    return "\n".join(",".join(str(c) for c in row) for row in rows)


def upload(rows, bucket):
    """Store the report in `bucket`."""
    s3 = boto3.client(
        "s3", aws_access_key_id=AWS_ACCESS_KEY_ID, aws_secret_access_key=AWS_SECRET_ACCESS_KEY
    )
    s3.put_object(Bucket=bucket, Key="report.csv", Body=render(rows))
