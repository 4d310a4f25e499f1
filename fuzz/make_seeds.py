#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into corpus/<target>/ (committed).

The seeds are valid inputs of the shapes the tests use (src/proof/tests.rs, tests/support/vault.rs,
src/sts/response.rs, src/arn.rs, src/token/, tests/example_policies.rs, src/policy/request.rs),
signed at 2026-11-22T15:58:34Z: the targets check them 10 s later, so each seed passes every rule
and the fuzzer starts from the deepest paths. Run with any Python 3 that has `cryptography`
(`.venv/bin/python fuzz/make_seeds.py`).
"""

import base64
import hashlib
import json
import pathlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
DATE = "20261122T155834Z"
NOW = 1_795_363_124
SIGNATURE = "0123456789abcdef" * 4


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target: str, seeds: dict) -> None:
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, data in seeds.items():
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def presigned(host, region, header="x-iam-audience", extra=""):
    return (
        f"https://{host}/?Action=GetCallerIdentity&Version=2011-06-15"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{DATE[:8]}%2F{region}%2Fsts%2Faws4_request"
        f"&X-Amz-Date={DATE}{extra}&X-Amz-SignedHeaders=host%3B{header}"
        f"&X-Amz-Signature={SIGNATURE}"
    )


write("proof_token", {
    "regional": "iam-v1." + b64url(presigned("sts.eu-west-1.amazonaws.com", "eu-west-1").encode()),
    "global": "iam-v1." + b64url(presigned("sts.amazonaws.com", "us-east-1").encode()),
    "expires": "iam-v1." + b64url(presigned("sts.us-west-2.amazonaws.com", "us-west-2",
                                            extra="&X-Amz-Expires=300").encode()),
    "session_token": "iam-v1." + b64url(presigned(
        "sts-fips.us-east-1.api.aws", "us-east-1",
        extra="&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Ftoken%3D%3D").encode()),
    "china": "iam-v1." + b64url(presigned("sts.cn-north-1.amazonaws.com.cn", "cn-north-1").encode()),
    "eks": "k8s-aws-v1." + b64url(presigned("sts.amazonaws.com", "us-east-1", "x-k8s-aws-id",
                                            "&X-Amz-Expires=60").encode()),
})


def vault_body(headers_as_object: bool, host="sts.amazonaws.com", region="us-east-1"):
    signed = "content-type;host;x-amz-date;x-vault-aws-iam-server-id"
    headers = {
        "Authorization": [f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{DATE[:8]}/{region}/sts/"
                          f"aws4_request, SignedHeaders={signed}, Signature={SIGNATURE}"],
        "Content-Type": ["application/x-www-form-urlencoded; charset=utf-8"],
        "Host": [host],
        "X-Amz-Date": [DATE],
        "X-Vault-AWS-IAM-Server-ID": ["vault.example.com"],
    }
    std = lambda s: base64.b64encode(s.encode()).decode()
    if headers_as_object:
        headers = {k: v[0] for k, v in headers.items()}
        field = headers
    else:
        field = std(json.dumps(headers))
    return json.dumps({
        "iam_http_request_method": "POST",
        "iam_request_url": std(f"https://{host}/"),
        "iam_request_body": std("Action=GetCallerIdentity&Version=2011-06-15"),
        "iam_request_headers": field,
        "role": "deployer",
    })


write("vault_login", {
    "go_client": vault_body(False),
    "headers_object": vault_body(True),
    "regional": vault_body(False, "sts.eu-west-1.amazonaws.com", "eu-west-1"),
})

REAL = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
    "  <GetCallerIdentityResult>\n"
    "    <Arn>arn:aws:sts::123456789012:assumed-role/deployer/ci-42</Arn>\n"
    "    <UserId>AROAEXAMPLEID1234567:ci-42</UserId>\n"
    "    <Account>123456789012</Account>\n"
    "  </GetCallerIdentityResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</GetCallerIdentityResponse>\n"
)
write("sts_response", {
    "assumed_role": REAL,
    "user_entity": '<?xml version="1.0" encoding="UTF-8"?>'
                   '<sts:GetCallerIdentityResponse xmlns:sts="https://sts.amazonaws.com/doc/2011-06-15/">'
                   "<sts:GetCallerIdentityResult><sts:Arn>arn:aws:iam::123456789012:user/a&amp;b</sts:Arn>"
                   "<sts:UserId>AIDAEXAMPLEUSERID0001</sts:UserId><sts:Account>123456789012</sts:Account>"
                   "</sts:GetCallerIdentityResult></sts:GetCallerIdentityResponse>",
    "error": '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
             "<Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature "
             "we calculated does not match</Message></Error><RequestId>r</RequestId></ErrorResponse>",
    "moto_error": "<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The "
                  "security token included in the request is invalid.</Message></Error></Errors>"
                  "<RequestId>r</RequestId></ErrorResponse>",
})

write("arn_normalize", {
    "assumed_role": "arn:aws:sts::123456789012:assumed-role/deployer/ci-42\nAROAEXAMPLEID1234567:ci-42",
    "user_path": "arn:aws-cn:iam::123456789012:user/ops/alice\nAIDAEXAMPLEUSERID0001",
    "root": "arn:aws:iam::123456789012:root\n123456789012",
    "federated": "arn:aws-us-gov:sts::123456789012:federated-user/bob\n123456789012:bob",
})

key = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
header = json.dumps({"alg": "EdDSA", "kid": "fuzz-key", "typ": "JWT"}, separators=(",", ":"))
aws = {
    "aws_account": "123456789012",
    "principal_id": "arn:aws:iam::123456789012:role/deployer",
    "unique_id": "AROAEXAMPLEID1234567",
    "session_name": "ci-42",
    "raw_arn": "arn:aws:sts::123456789012:assumed-role/deployer/ci-42",
}
exchange_claims = json.dumps({
    "iss": "https://issuer.example", "sub": "arn:aws:iam::123456789012:role/deployer",
    "aud": "fuzz-audience", "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 600, "jti": "j1",
    "https://sts.amazonaws.com/": aws,
})
outbound_claims = json.dumps({
    "iss": "https://aws-issuer.example", "sub": "arn:aws:iam::123456789012:role/deployer",
    "aud": ["other", "fuzz-audience"], "iat": NOW - 60, "exp": NOW + 600,
    "https://sts.amazonaws.com/": {"aws_account": "123456789012", "org_id": "o-abc"},
})


def jwt(header_json: str, claims_json: str) -> str:
    message = b64url(header_json.encode()) + "." + b64url(claims_json.encode())
    return message + "." + b64url(key.sign(message.encode()))


write("jwt_token", {
    "exchange": jwt(header, exchange_claims),
    "aws_outbound": jwt(header, outbound_claims),
    "hs256": jwt(json.dumps({"alg": "HS256", "kid": "fuzz-key"}), exchange_claims),
})
write("jwt_claims", {
    "exchange": header + "\n" + exchange_claims,
    "aws_outbound": header + "\n" + outbound_claims,
    "expired": header + "\n" + exchange_claims.replace(str(NOW + 600), str(NOW - 600)),
})

ec_x = b64url(hashlib.sha256(b"x").digest())
ec_y = b64url(hashlib.sha256(b"y").digest())
write("jwks", {
    "ed25519": json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                                     "kid": "fuzz-key", "x": b64url(public)}]}),
    "ec_and_rsa": json.dumps({"keys": [
        {"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "ec", "x": ec_x, "y": ec_y},
        {"kty": "RSA", "alg": "RS256", "kid": "rsa", "e": "AQAB",
         "n": b64url(hashlib.sha512(b"n").digest() * 4)},
    ]}),
})

ORDERS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadersRead", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::123456789012:role/orders-reader"},
         "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/orders/*",
         "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}},
        {"Sid": "NobodyDeletes", "Effect": "Deny", "Principal": {"AWS": "123456789012"},
         "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
         "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "DELETE"}}},
    ],
}
CONDITIONS = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow", "Principal": {"AWS": ["123456789012", "AROAEXAMPLEID1234567"]},
        "Action": ["vpc-lattice-svcs:*"], "Resource": "*/orders/${aws:username}/*",
        "Condition": {
            "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
            "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
            "NumericLessThanEquals": {"vpc-lattice-svcs:Port": "443"},
            "ForAnyValue:StringLike": {"vpc-lattice-svcs:RequestQueryString/view": ["full", "s*"]},
            "StringEqualsIfExists": {"vpc-lattice-svcs:RequestHeader/x-team": "orders"},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/orders-*"},
            "Bool": {"tower-iam-auth:Anonymous": "false"},
            "Null": {"tower-iam-auth:SessionName": "false"},
            "StringEquals": {"tower-iam-auth:Route": "/orders/{id}"},
        },
    },
}
write("policy_document", {
    "orders": json.dumps(ORDERS_POLICY, indent=2),
    "conditions": json.dumps(CONDITIONS, indent=2),
    "not_principal": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/alice"},
        "NotAction": "vpc-lattice-svcs:Invoke", "NotResource": "*/public/*"}]}),
})

write("canonical_path", {
    "root": "/",
    "orders": "/orders/42",
    "trailing": "/orders/",
    "encoded_space": "/a%20b",
    "encoded_utf8": "/caf%C3%A9/x",
})
