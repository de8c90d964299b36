#!/usr/bin/env python3
"""Prints SigV4 test vectors computed by botocore (the reference signer used by the AWS CLI and boto3).

The output is pasted into BotocoreVectors.cs; rerun this script to check the constants:
    python3 tests/Coffer.Protocol.Tests/SigV4/make_vectors.py
"""
import datetime
import json
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

CASES = [
    ("get", "http://127.0.0.1:8390/", "us-east-1", "secretsmanager.GetSecretValue",
     '{"SecretId": "prod/app/db"}', datetime.datetime(2025, 1, 1, 12, 0, 0)),
    ("empty_body", "http://localhost:8390/", "eu-west-1", "secretsmanager.ListSecrets",
     "", datetime.datetime(2024, 2, 29, 23, 59, 59)),
    ("unicode_body", "http://coffer.example:8443/", "ap-southeast-2", "secretsmanager.CreateSecret",
     '{"Name": "x", "SecretString": "p\u00e4ss w\u00f6rd \u2603"}', datetime.datetime(2025, 6, 30, 0, 0, 1)),
    ("base_path", "http://127.0.0.1:8390/coffer/", "us-east-1", "secretsmanager.DescribeSecret",
     '{"SecretId": "a"}', datetime.datetime(2025, 1, 1, 12, 0, 0)),
    ("query", "http://127.0.0.1:8390/?b=2&a=x%20y&a=1", "us-east-1", "secretsmanager.ListSecrets",
     "{}", datetime.datetime(2025, 1, 1, 12, 0, 0)),
]


def main():
    for name, url, region, target, body, now in CASES:
        req = AWSRequest(method="POST", url=url, data=body.encode("utf-8"), headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            "User-Agent": "  aws-cli/1.0   test  ",
        })
        signer = SigV4Auth(CREDS, "secretsmanager", region)
        seen = {}
        original = signer.canonical_request

        def capture(request):
            seen["canonical"] = original(request)
            return seen["canonical"]

        signer.canonical_request = capture
        with mock.patch("botocore.auth.get_current_datetime", return_value=now):
            signer.add_auth(req)
        print(json.dumps({
            "name": name,
            "url": url,
            "headers": {k: v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()},
            "body": body,
            "canonical_request": seen["canonical"],
        }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
