#!/usr/bin/env python3
"""Cross-check of the load generator's SigV4 signer against botocore (reliability-matrix §3.8).

Reads the JSON lines printed by `coffer-loadgen signer-check` (inputs plus what the C# signer produced),
signs the same inputs with botocore.auth.SigV4Auth at the same instant, and compares the canonical request,
the string to sign and the Authorization header. Exits 1 on any difference or if fewer requests than
--expect were read.
"""
import argparse
import datetime
import json
import sys

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

# The worked example of the AWS SigV4 documentation ("Create a signed AWS API request", IAM ListUsers).
DOC_EXAMPLE_SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


class CapturingSigV4Auth(botocore.auth.SigV4Auth):
    """botocore's signer, keeping the intermediate strings it computes."""

    def canonical_request(self, request):
        self.captured_canonical_request = super().canonical_request(request)
        return self.captured_canonical_request

    def string_to_sign(self, request, canonical_request):
        self.captured_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.captured_string_to_sign


def sign_with_botocore(case):
    instant = datetime.datetime.strptime(case["amzDate"], "%Y%m%dT%H%M%SZ")
    # add_auth reads the clock through this module-level function; pin it to the case's instant.
    botocore.auth.get_current_datetime = lambda: instant

    headers = HTTPHeaders()
    for name, value in case["headers"]:
        headers[name] = value  # appends, so repeated names are kept
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        headers=headers,
        data=bytes.fromhex(case["bodyHex"]),
        params=[tuple(p) for p in case["query"]],
    )
    credentials = Credentials(case["accessKey"], case["secretKey"], case.get("token"))
    signer = CapturingSigV4Auth(credentials, case["service"], case["region"])
    signer.add_auth(request)
    return {
        "canonicalRequest": signer.captured_canonical_request,
        "stringToSign": signer.captured_string_to_sign,
        "authorization": request.headers["Authorization"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default="-", help="JSON lines file (default: stdin)")
    parser.add_argument("--expect", type=int, default=1, help="minimum number of requests")
    parser.add_argument("--show", type=int, default=3, help="differences printed in full")
    args = parser.parse_args()

    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    total = 0
    failed = 0
    for line in stream:
        if not line.strip():
            continue
        case = json.loads(line)
        total += 1
        ours = sign_with_botocore(case)
        diffs = [k for k in ("canonicalRequest", "stringToSign", "authorization") if ours[k] != case[k]]
        if case["index"] == 0 and not case["authorization"].endswith("Signature=" + DOC_EXAMPLE_SIGNATURE):
            diffs.append("documentation example signature")
        if diffs:
            failed += 1
            if failed <= args.show:
                print(f"request {case['index']}: differs in {', '.join(diffs)}", file=sys.stderr)
                for k in ("canonicalRequest", "stringToSign", "authorization"):
                    if k in diffs:
                        print(f"  {k} (load generator):\n{case[k]!r}\n  {k} (botocore):\n{ours[k]!r}", file=sys.stderr)

    ok = failed == 0 and total >= args.expect
    print(
        f"signer-check: {total - failed}/{total} requests signed identically by the load generator and "
        f"botocore {botocore.__version__}" + ("" if ok else f"; FAILED ({failed} different, {args.expect} expected)")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
