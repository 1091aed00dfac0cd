"""Names the cloud keeps for itself: no user, the admin included, can create a bucket whose name
starts with `cirrus-system-` (the cloud makes its template and snapshot buckets there when it
first needs them), so nobody can take one first and break snapshots or imports for everyone."""

import botocore.exceptions
import pytest

from harness import boto3_client


@pytest.mark.parametrize("name", ["cirrus-system-templates", "cirrus-system-snapshots",
                                  "cirrus-system-anything"])
def test_system_bucket_names_are_refused(server, name):
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name)
    err = e.value.response
    assert err["Error"]["Code"] == "InvalidBucketName"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "cirrus-system-" in err["Error"]["Message"]
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # Other names still work.
    s3.create_bucket(Bucket="cirrus-systems-are-fine")
