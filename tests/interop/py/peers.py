"""Drives the third-party peers of the interop tests: emulator set-up and real-client signing.

Run with the project's virtual environment (`scripts/test.sh` creates it):

    .venv/bin/python tests/interop/py/peers.py COMMAND < request.json > answer.json

The request is one JSON object on standard input; the answer is one JSON object on standard
output. Any failure exits non-zero with the reason on standard error. Commands:

- `identities`: on an emulator (`endpoint`, `flavor` `moto` or `ministack`), creates IAM user
  `user` with an access key, role `role` whose trust policy names the user's ARN literally (moto
  matches it literally), and a session `session` of that role assumed with the user's key. For
  moto it then switches signature checking on (`POST /moto-api/reset-auth`, raw body `0`) unless
  `enable_auth` is false. Answers `{"user": CREDENTIALS, "role_session": CREDENTIALS}`.
- `vault-botocore`: a Vault-format login body (`{"login": OBJECT}`) signed by botocore for
  `credentials`, with header `audience_header: audience` (the snippet of the Rails/Python design).
- `vault-hvac`: the login body hvac's `iam_login` would post to Vault for `credentials`, with
  `X-Vault-AWS-IAM-Server-ID: audience` (captured instead of sent).
- `eks-token`: `{"token": ...}` from awscli's `eks get-token --cluster-name audience`, run
  in-process so that the signing clock can be moved (the plain case runs the real `aws`).

CREDENTIALS are `{"access_key_id", "secret_access_key", "session_token" (or null), "arn"}`.
Signing commands take an optional `signed_at` (Unix seconds): the signer's clock is patched to
it, to make signatures from the past without waiting.
"""

import base64
import datetime
import io
import json
import sys
import contextlib


def main():
    request = json.load(sys.stdin)
    command = request["command"]
    handler = COMMANDS.get(command)
    if handler is None:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(handler(request), sys.stdout)
    sys.stdout.write("\n")


# --- emulators --------------------------------------------------------------------------------


def identities(request):
    import boto3
    import requests

    endpoint = request["endpoint"]
    flavor = request["flavor"]
    # moto checks nothing until auth is switched on; ministack accepts its root key `test` with
    # any secret and uses it to administer IAM.
    admin = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    iam = admin.client("iam", endpoint_url=endpoint)
    user = iam.create_user(UserName=request["user"])["User"]
    key = iam.create_access_key(UserName=request["user"])["AccessKey"]
    if flavor == "ministack":
        # ministack enforces identity policies for sts:AssumeRole under AUTH=true.
        iam.put_user_policy(
            UserName=request["user"],
            PolicyName="assume-any-role",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
                    ],
                }
            ),
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=request["role"], AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    as_user = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )
    assumed = as_user.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=role["Arn"], RoleSessionName=request["session"]
    )
    session = assumed["Credentials"]
    if flavor == "moto" and request.get("enable_auth", True):
        answer = requests.post(
            f"{endpoint}/moto-api/reset-auth",
            data="0",
            headers={"Content-Type": "text/plain"},
            timeout=10,
        )
        answer.raise_for_status()
    return {
        "user": {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
            "session_token": None,
            "arn": user["Arn"],
        },
        "role_session": {
            "access_key_id": session["AccessKeyId"],
            "secret_access_key": session["SecretAccessKey"],
            "session_token": session["SessionToken"],
            "arn": assumed["AssumedRoleUser"]["Arn"],
        },
    }


# --- signing clock ----------------------------------------------------------------------------


def signing_time(request):
    """The naive-UTC datetime the signer should use, or None for the real clock."""
    signed_at = request.get("signed_at")
    if signed_at is None:
        return None
    return datetime.datetime.fromtimestamp(signed_at, datetime.timezone.utc).replace(
        tzinfo=None
    )


@contextlib.contextmanager
def botocore_clock(at):
    """botocore's SigV4 signers read `botocore.auth.get_current_datetime`; pin it to `at`."""
    import botocore.auth

    if at is None:
        yield
        return
    original = botocore.auth.get_current_datetime

    def pinned(remove_tzinfo=True):
        return at if remove_tzinfo else at.replace(tzinfo=datetime.timezone.utc)

    botocore.auth.get_current_datetime = pinned
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original


@contextlib.contextmanager
def hvac_clock(at):
    """hvac's hand-written signer calls `datetime.utcnow()` from `hvac.aws_utils`; pin it."""
    import hvac.aws_utils

    if at is None:
        yield
        return

    class PinnedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return at

    original = hvac.aws_utils.datetime
    hvac.aws_utils.datetime = PinnedDatetime
    try:
        yield
    finally:
        hvac.aws_utils.datetime = original


def boto_session(credentials, region="us-east-1"):
    import boto3

    return boto3.session.Session(
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials.get("session_token"),
        region_name=region,
    )


def b64(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# --- real clients -----------------------------------------------------------------------------


def vault_botocore(request):
    """The botocore snippet that signs a Vault-format login (Vault's docs, Rails/Python design).

    Quirks of current botocore (1.43): `_convert_to_request_dict` wants the endpoint host as a
    third argument; the URL and body come back as `str` and header values as `bytes`; no Host
    header is in the result although `host` is signed; the endpoint is regional
    (`sts.us-east-1.amazonaws.com`).
    """
    client = boto_session(request["credentials"]).client("sts")
    endpoint = client._endpoint
    operation = client._service_model.operation_model("GetCallerIdentity")
    request_dict = client._convert_to_request_dict({}, operation, endpoint.host)
    request_dict["headers"][request["audience_header"]] = request["audience"]
    with botocore_clock(signing_time(request)):
        signed = endpoint.create_request(request_dict, operation)
    headers = {
        name: value.decode("utf-8") if isinstance(value, bytes) else value
        for name, value in signed.headers.items()
    }
    return {
        "login": {
            "iam_http_request_method": signed.method,
            "iam_request_url": b64(signed.url),
            "iam_request_body": b64(signed.body),
            "iam_request_headers": b64(json.dumps(headers)),
        }
    }


def vault_hvac(request):
    """What `hvac.Client().auth.aws.iam_login` posts to Vault, captured instead of sent."""
    import hvac

    credentials = request["credentials"]
    client = hvac.Client(url="http://127.0.0.1:9")
    captured = []
    client.auth.aws._adapter.login = lambda url, use_token=True, **kwargs: captured.append(
        kwargs["json"]
    )
    with hvac_clock(signing_time(request)):
        client.auth.aws.iam_login(
            access_key=credentials["access_key_id"],
            secret_key=credentials["secret_access_key"],
            session_token=credentials.get("session_token"),
            header_value=request["audience"],
            role=request.get("role", "orders-reader"),
        )
    (login,) = captured
    return {"login": login}


def eks_token(request):
    """`aws eks get-token --cluster-name AUDIENCE`, run in-process with a pinnable clock."""
    import os

    from awscli.clidriver import create_clidriver

    credentials = request["credentials"]
    os.environ["AWS_ACCESS_KEY_ID"] = credentials["access_key_id"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = credentials["secret_access_key"]
    if credentials.get("session_token"):
        os.environ["AWS_SESSION_TOKEN"] = credentials["session_token"]
    else:
        os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ["AWS_DEFAULT_REGION"] = request.get("region", "us-east-1")
    # Nothing from the machine's AWS configuration may change what is signed.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        os.environ.pop(name, None)
    output = io.StringIO()
    with botocore_clock(signing_time(request)), contextlib.redirect_stdout(output):
        status = create_clidriver().main(
            ["eks", "get-token", "--cluster-name", request["audience"], "--output", "json"]
        )
    if status != 0:
        raise SystemExit(f"aws eks get-token exited {status}")
    return {"token": json.loads(output.getvalue())["status"]["token"]}


COMMANDS = {
    "identities": identities,
    "vault-botocore": vault_botocore,
    "vault-hvac": vault_hvac,
    "eks-token": eks_token,
}

if __name__ == "__main__":
    main()
