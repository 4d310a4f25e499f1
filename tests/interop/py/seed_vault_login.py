"""The first seed flow, as its client does it: log in with a botocore-signed Vault-format body,
then call the API with the JWT the login returned.

    python seed_vault_login.py --login URL --api URL --app-id APP1-live [--tamper]

Credentials come from the usual AWS environment (`AWS_ACCESS_KEY_ID`, ...). The client signs
STS GetCallerIdentity with an `X-APP-ID` header, base64-encodes all four fields of the login
body (the method too: `UE9TVA==`), posts it to the login URL, and calls the API with
`Authorization: Bearer <access_token>`. `--tamper` changes one character of the signature
after signing. Prints one JSON object: the status and answer of the login and of the API call.
"""

import argparse
import base64
import json
import urllib.error
import urllib.request

import botocore.session


def b64(value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def signed_login_body(app_id, tamper):
    client = botocore.session.get_session().create_client("sts", region_name="us-east-1")
    endpoint = client._endpoint
    operation = client._service_model.operation_model("GetCallerIdentity")
    request_dict = client._convert_to_request_dict({}, operation, endpoint.host)
    request_dict["headers"]["X-APP-ID"] = app_id
    signed = endpoint.create_request(request_dict, operation)
    headers = {
        name: value.decode("utf-8") if isinstance(value, bytes) else value
        for name, value in signed.headers.items()
    }
    if tamper:
        authorization = headers["Authorization"]
        last = authorization[-1]
        headers["Authorization"] = authorization[:-1] + ("0" if last != "0" else "1")
    return {
        "iam_http_request_method": b64(signed.method),
        "iam_request_url": b64(signed.url),
        "iam_request_body": b64(signed.body),
        "iam_request_headers": b64(json.dumps(headers)),
    }


def call(request):
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--login", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--tamper", action="store_true")
    args = parser.parse_args()

    body = signed_login_body(args.app_id, args.tamper)
    login_status, login = call(
        urllib.request.Request(
            args.login,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
    )
    answer = {"method_field": body["iam_http_request_method"], "login_status": login_status, "login": login}
    if login_status == 200:
        api_status, api = call(
            urllib.request.Request(
                args.api, headers={"Authorization": "Bearer " + login["access_token"]}
            )
        )
        answer.update(api_status=api_status, api=api)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
