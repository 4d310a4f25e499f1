"""Prints the STS endpoints that the installed botocore's endpoint data lists, one per line:
`HOST SIGNING_REGION PARTITION KIND`; then, for each region name given as an argument,
`name NAME PARTITION` with the partition whose `regionRegex` matches it (or `-`).

Derivation, from data/endpoints.json only:
- the partition endpoint (`aws-global`): its hostname, signing as its credential scope (global);
- every other non-deprecated STS endpoint: its hostname, or the partition's default hostname
  (regional), and the partition's default dual-stack variant where it has one (dualstack);
- FIPS hosts only where the STS data itself names one (the endpoint's variants or the STS
  defaults): the host (fips) unless it is the regional host itself (GovCloud), and then the
  partition's default dual-stack FIPS variant where it has one (fips-dualstack).
"""

import json
import os
import re
import sys

import botocore

path = os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json")
with open(path) as f:
    data = json.load(f)


def expand(template, region, suffix):
    return (template.replace("{service}", "sts").replace("{region}", region)
            .replace("{dnsSuffix}", suffix))


for partition in data["partitions"]:
    name = partition["partition"]
    sts = partition["services"].get("sts")
    if sts is None:
        continue
    defaults = partition["defaults"]
    variants = defaults.get("variants", [])

    def default_variant(tags):
        return next((v for v in variants if sorted(v["tags"]) == sorted(tags)), None)

    sts_fips = [v for v in sts.get("defaults", {}).get("variants", []) if v["tags"] == ["fips"]]
    for region, endpoint in sorted(sts["endpoints"].items()):
        if endpoint.get("deprecated"):
            continue
        scope = endpoint.get("credentialScope", {}).get("region", region)
        if region == sts.get("partitionEndpoint"):
            print(endpoint["hostname"], scope, name, "global")
            continue
        regional = endpoint.get("hostname") or expand(defaults["hostname"], region,
                                                      partition["dnsSuffix"])
        print(regional, scope, name, "regional")
        dual = default_variant(["dualstack"])
        if dual:
            print(expand(dual["hostname"], region, dual["dnsSuffix"]), scope, name, "dualstack")
        fips = [v for v in endpoint.get("variants", []) if v["tags"] == ["fips"]] or sts_fips
        for variant in fips:
            host = expand(variant["hostname"], region,
                          variant.get("dnsSuffix", partition["dnsSuffix"]))
            if host == regional:
                continue
            print(host, scope, name, "fips")
            dual_fips = default_variant(["dualstack", "fips"])
            if dual_fips:
                print(expand(dual_fips["hostname"], region, dual_fips["dnsSuffix"]), scope, name,
                      "fips-dualstack")

for candidate in sys.argv[1:]:
    matching = [p["partition"] for p in data["partitions"]
                if re.match(p["regionRegex"], candidate)]
    print("name", candidate, matching[0] if len(matching) == 1 else "-")
