"""DescribeInstances pagination with boto3: MaxResults/NextToken over reservations, as the SDK
paginators and Terraform walk it. Pages never overlap or skip, the last page carries no token,
a page boundary never splits a reservation, a forged or foreign token is refused, and
instances named by id come back whatever else the account holds."""

from __future__ import annotations

import os

import botocore.exceptions
import pytest

pytestmark = pytest.mark.timeout(300)

# Seven launches of 1-3 instances: 13 instances in 7 reservations.
BATCHES = [1, 3, 1, 2, 1, 3, 2]


@pytest.fixture(scope="module")
def ec2(shared_server, tmp_path_factory):
    import boto3

    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    os.environ["AWS_CONFIG_FILE"] = str(shared_server.file("aws/config"))
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(shared_server.file("aws/credentials"))
    return boto3.Session().client("ec2")


@pytest.fixture(scope="module")
def launched(ec2):
    """The reservations launched, in launch order: (reservation id, [instance ids])."""
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    out = []
    for n in BATCHES:
        r = ec2.run_instances(ImageId=ami, InstanceType="t3.nano", MinCount=n, MaxCount=n)
        out.append((r["ReservationId"], [i["InstanceId"] for i in r["Instances"]]))
    return out


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def walk(ec2, page_size, **kw):
    """Every page the SDK's paginator fetches: [(reservation ids, had a token)]."""
    pages = []
    for page in ec2.get_paginator("describe_instances").paginate(
            PaginationConfig={"PageSize": page_size}, **kw):
        pages.append(([(r["ReservationId"], [i["InstanceId"] for i in r["Instances"]])
                       for r in page["Reservations"]], "NextToken" in page))
    return pages


def test_pages_cover_every_reservation_once_in_launch_order(ec2, launched):
    pages = walk(ec2, 5)
    assert [len(p) for p, _ in pages] == [5, 2]
    assert [more for _, more in pages] == [True, False]
    seen = [r for p, _ in pages for r in p]
    assert seen == launched


def test_a_page_that_ends_exactly_at_the_end_has_no_token(ec2, launched):
    page = ec2.describe_instances(MaxResults=len(launched))
    assert len(page["Reservations"]) == len(launched)
    assert "NextToken" not in page


def test_the_whole_listing_without_max_results_is_one_answer(ec2, launched):
    page = ec2.describe_instances()
    assert "NextToken" not in page
    assert [(r["ReservationId"], [i["InstanceId"] for i in r["Instances"]])
            for r in page["Reservations"]] == launched


def test_terminating_between_pages_neither_skips_nor_repeats(ec2, launched):
    first = ec2.describe_instances(MaxResults=5)
    # Terminated instances stay listed, so the walk goes on over the same reservations.
    ec2.terminate_instances(InstanceIds=launched[1][1][:1])
    rest = ec2.describe_instances(MaxResults=5, NextToken=first["NextToken"])
    ids = [r["ReservationId"] for r in first["Reservations"] + rest["Reservations"]]
    assert ids == [r for r, _ in launched]


def test_filtered_listings_page_over_what_matches(ec2, launched):
    wanted = [launched[1][1][1], launched[3][1][0], launched[5][1][2], launched[6][1][0]]
    pages = walk(ec2, 5, Filters=[{"Name": "instance-id", "Values": wanted}])
    found = [i for p, _ in pages for _, ids in p for i in ids]
    assert found == wanted
    assert pages[-1][1] is False


def test_named_instances_come_back_in_any_account_size(ec2, launched):
    one = launched[2][1][0]
    r = ec2.describe_instances(InstanceIds=[one])["Reservations"]
    assert [[i["InstanceId"] for i in x["Instances"]] for x in r] == [[one]]
    two = [launched[0][1][0], launched[6][1][1]]
    r = ec2.describe_instances(InstanceIds=two)["Reservations"]
    assert sorted(i["InstanceId"] for x in r for i in x["Instances"]) == sorted(two)


def test_a_missing_named_instance_is_not_found(ec2, launched):
    code, status = error_of(ec2.describe_instances,
                            InstanceIds=[launched[0][1][0], "i-0123456789abcdef0"])
    assert (code, status) == ("InvalidInstanceID.NotFound", 400)


def test_forged_and_foreign_tokens_are_refused(ec2, launched):
    good = ec2.describe_instances(MaxResults=5)["NextToken"]
    forged = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    for token in [forged, "not-a-token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]:
        assert error_of(ec2.describe_instances, MaxResults=5, NextToken=token) == \
            ("InvalidParameterValue", 400)
    # A token of a filtered listing does not continue an unfiltered one, nor the reverse.
    filtered = ec2.describe_instances(
        MaxResults=5, Filters=[{"Name": "instance-type", "Values": ["t3.nano"]}])["NextToken"]
    assert error_of(ec2.describe_instances, MaxResults=5, NextToken=filtered) == \
        ("InvalidParameterValue", 400)
    assert error_of(ec2.describe_instances, MaxResults=5, NextToken=good,
                    Filters=[{"Name": "instance-type", "Values": ["t3.nano"]}]) == \
        ("InvalidParameterValue", 400)
    # A DescribeInstances token is not a DescribeInstanceStatus one.
    assert error_of(ec2.describe_instance_status, MaxResults=5, NextToken=good) == \
        ("InvalidParameterValue", 400)


def test_page_size_limits_and_ids_with_max_results(ec2, launched):
    assert error_of(ec2.describe_instances, MaxResults=4) == ("InvalidParameterValue", 400)
    assert error_of(ec2.describe_instances, MaxResults=1001) == ("InvalidParameterValue", 400)
    assert error_of(ec2.describe_instances, MaxResults=5,
                    InstanceIds=[launched[0][1][0]]) == ("InvalidParameterCombination", 400)
