"""MultiClusterDNS (``shared.planning._dns``), contract §2.9.

Covers: ServiceDNSRecord status (LB only with endpoint addresses or allowServiceWithoutEndpoints,
ingress sorted by ip then hostname, missing region/zones error, not-ready clusters keep their
previous entry with an empty LB, sorted by cluster); IngressDNSRecord status; status →
ClusterDNSInfo; service endpoints (zone/region/global names, A records with resolved
hostnames, CNAME to the next level, dropped global CNAME, dnsPrefix CNAME, externalName
prefix and serviceName label, default TTL, required fields); ingress endpoints; merge rules
(sort, empty targets dropped, A wins over CNAME, union sorted deduped); property: merged
output has unique sorted names and no empty targets.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.planning import (
    ClusterDNSInfo,
    MemberServiceState,
    dedupe_and_merge,
    dns_infos_from_status,
    ingress_endpoints,
    ingress_record_status,
    service_endpoints,
    service_record_status,
)

SVC = {
    "status": {
        "loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "2.2.2.2"}, {"ip": "1.1.1.1"}]}
    }
}
EPS = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
NO_EPS = {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]}


def test_service_record_status() -> None:
    status = service_record_status(
        ready=[
            MemberServiceState("c2", "us", ("us-b", "us-a"), SVC, NO_EPS),
            MemberServiceState("c1", "eu", ("eu-a",), SVC, EPS),
            MemberServiceState("c4", "eu", ("eu-b",), None, EPS),
        ],
        not_ready=["c3", "c5"],
        previous=[
            {
                "cluster": "c3",
                "region": "ap",
                "zones": ["ap-a"],
                "loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]},
            }
        ],
    )
    assert status == [
        {
            "cluster": "c1",
            "loadBalancer": {
                "ingress": [{"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}]
            },
            "zones": ["eu-a"],
            "region": "eu",
        },
        {"cluster": "c2", "loadBalancer": {}, "zones": ["us-a", "us-b"], "region": "us"},
        {"cluster": "c3", "region": "ap", "zones": ["ap-a"], "loadBalancer": {}},
        {"cluster": "c4", "loadBalancer": {}, "zones": ["eu-b"], "region": "eu"},
    ]
    allowed = service_record_status(
        ready=[MemberServiceState("c2", "us", ("us-a",), SVC, None)], allow_service_without_endpoints=True
    )
    assert allowed[0]["loadBalancer"]["ingress"][1] == {"ip": "1.1.1.1"}


@pytest.mark.parametrize("state", [MemberServiceState("c", "", ("z",)), MemberServiceState("c", "r", ())])
def test_service_record_status_requires_topology(state: MemberServiceState) -> None:
    with pytest.raises(ValueError, match="region or zones"):
        service_record_status(ready=[state])


def test_ingress_record_status() -> None:
    ing = {"status": {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}]}}}
    assert ingress_record_status({"b": ing, "a": None}) == [
        {"cluster": "a", "loadBalancer": {}},
        {"cluster": "b", "loadBalancer": {"ingress": [{"ip": "3.3.3.3"}]}},
    ]


def test_dns_infos_from_status() -> None:
    infos = dns_infos_from_status(
        [
            {
                "cluster": "c1",
                "region": "eu",
                "zones": ["a"],
                "loadBalancer": {"ingress": [{"ip": "1.1.1.1"}, {"hostname": "h"}]},
            }
        ]
    )
    assert infos == [ClusterDNSInfo("c1", "eu", ("a",), ("1.1.1.1",), ("h",))]


def _resolve(host: str) -> list[str]:
    return {"lb.example.com": ["5.5.5.5", "1.1.1.1"]}[host]


def _svc(**kw: object) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "service_name": "web",
        "namespace": "ns",
        "domain_ref": "fed",
        "domain": "example.org",
        "ttl": None,
        "dns_prefix": None,
        "external_name": None,
        "resolve": _resolve,
    }
    args.update(kw)
    return service_endpoints(**args)


def test_service_endpoints_with_and_without_targets() -> None:
    infos = [
        ClusterDNSInfo("c1", "eu", ("eu-a", "eu-b"), ("1.1.1.1",), ("lb.example.com",)),
        ClusterDNSInfo("c2", "us", ("us-a",)),
    ]
    p = "web.ns.fed.svc"
    assert _svc(dns_infos=infos) == [
        {
            "dnsName": f"{p}.eu-a.eu.example.org",
            "targets": ["1.1.1.1", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 180,
        },
        {
            "dnsName": f"{p}.eu-b.eu.example.org",
            "targets": ["1.1.1.1", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 180,
        },
        {
            "dnsName": f"{p}.eu.example.org",
            "targets": ["1.1.1.1", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 180,
        },
        {
            "dnsName": f"{p}.example.org",
            "targets": ["1.1.1.1", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 180,
        },
        {
            "dnsName": f"{p}.us-a.us.example.org",
            "targets": [f"{p}.us.example.org"],
            "recordType": "CNAME",
            "recordTTL": 180,
        },
        {
            "dnsName": f"{p}.us.example.org",
            "targets": [f"{p}.example.org"],
            "recordType": "CNAME",
            "recordTTL": 180,
        },
    ]


def test_service_endpoints_no_targets_anywhere_drops_global() -> None:
    out = _svc(dns_infos=[ClusterDNSInfo("c2", "us", ("us-a",))], ttl=60, dns_prefix="www")
    names = [(e["dnsName"], e["recordType"], e["targets"], e["recordTTL"]) for e in out]
    assert names == [
        ("web.ns.fed.svc.us-a.us.example.org", "CNAME", ["web.ns.fed.svc.us.example.org"], 60),
        ("web.ns.fed.svc.us.example.org", "CNAME", ["web.ns.fed.svc.example.org"], 60),
        ("www.example.org", "CNAME", ["web.ns.fed.svc.example.org"], 60),
    ]


def test_service_endpoints_external_name() -> None:
    out = _svc(dns_infos=[ClusterDNSInfo("c1", "eu", ("eu-a",), ("1.1.1.1",))], external_name="alias")
    assert {e["dnsName"] for e in out} == {
        "alias.ns.fed.svc.eu-a.eu.example.org",
        "alias.ns.fed.svc.eu.example.org",
        "alias.ns.fed.svc.example.org",
    }
    assert all(e["labels"] == {"serviceName": "web"} for e in out)


def test_service_endpoints_requires_names() -> None:
    with pytest.raises(ValueError):
        _svc(dns_infos=[], domain="")


def test_resolver_errors_propagate() -> None:
    def boom(host: str) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(OSError):
        _svc(dns_infos=[ClusterDNSInfo("c", "r", ("z",), (), ("x.invalid",))], resolve=boom)


def test_ingress_endpoints() -> None:
    infos = [ClusterDNSInfo("a", lb_ips=("2.2.2.2",)), ClusterDNSInfo("b", lb_hostnames=("lb.example.com",))]
    out = ingress_endpoints(
        hosts=["b.example.org", "a.example.org"], dns_infos=infos, ttl=30, resolve=_resolve
    )
    assert out == [
        {
            "dnsName": "a.example.org",
            "targets": ["1.1.1.1", "2.2.2.2", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 30,
        },
        {
            "dnsName": "b.example.org",
            "targets": ["1.1.1.1", "2.2.2.2", "5.5.5.5"],
            "recordType": "A",
            "recordTTL": 30,
        },
    ]
    assert (
        ingress_endpoints(
            hosts=["a.example.org"], dns_infos=[ClusterDNSInfo("a")], ttl=None, resolve=_resolve
        )
        == []
    )


def test_dedupe_and_merge() -> None:
    eps = [
        {"dnsName": "b", "targets": ["x"], "recordType": "CNAME", "recordTTL": 1},
        {"dnsName": "b", "targets": ["2.2.2.2"], "recordType": "A", "recordTTL": 1},
        {"dnsName": "b", "targets": ["1.1.1.1", "2.2.2.2"], "recordType": "A", "recordTTL": 1},
        {"dnsName": "a", "targets": ["", "y"], "recordType": "CNAME", "recordTTL": 1},
        {"dnsName": "a", "targets": ["z"], "recordType": "CNAME", "recordTTL": 1},
        {"dnsName": "c", "targets": [""], "recordType": "A", "recordTTL": 1},
        {"dnsName": "d", "targets": [], "recordType": "A", "recordTTL": 1},
    ]
    assert dedupe_and_merge(eps) == [
        {"dnsName": "a", "targets": ["y", "z"], "recordType": "CNAME", "recordTTL": 1},
        {"dnsName": "b", "targets": ["1.1.1.1", "2.2.2.2"], "recordType": "A", "recordTTL": 1},
    ]


_ep = st.fixed_dictionaries(
    {
        "dnsName": st.sampled_from(["a", "b", "c"]),
        "targets": st.lists(st.sampled_from(["", "t1", "t2", "t3"]), max_size=3),
        "recordType": st.sampled_from(["A", "CNAME"]),
        "recordTTL": st.just(180),
    }
)


@settings(max_examples=150, deadline=None)
@given(eps=st.lists(_ep, max_size=8))
def test_merge_properties(eps: list[dict[str, Any]]) -> None:
    merged = dedupe_and_merge(eps)
    names = [e["dnsName"] for e in merged]
    assert names == sorted(set(names))
    for e in merged:
        assert e["targets"] and "" not in e["targets"]
        assert e["targets"] == sorted(set(e["targets"]))
        has_a = any(
            x["dnsName"] == e["dnsName"] and x["recordType"] == "A" and any(x["targets"]) for x in eps
        )
        assert (e["recordType"] == "A") == has_a


def test_dns_prefix_needs_clusters_and_has_no_label() -> None:
    assert _svc(dns_infos=[], dns_prefix="www") == []
    out = _svc(
        dns_infos=[ClusterDNSInfo("c1", "eu", ("eu-a",), ("1.1.1.1",))],
        dns_prefix="www",
        external_name="alias",
    )
    prefix = next(e for e in out if e["dnsName"] == "www.example.org")
    assert prefix["targets"] == ["alias.ns.fed.svc.example.org"]
    assert "labels" not in prefix


def test_levels_union_targets_across_clusters() -> None:
    infos = [
        ClusterDNSInfo("c1", "eu", ("eu-a",), ("1.1.1.1",)),
        ClusterDNSInfo("c2", "eu", ("eu-b",)),
        ClusterDNSInfo("c3", "us", ("us-a",), ("3.3.3.3",)),
    ]
    by_name = {e["dnsName"]: (e["recordType"], e["targets"]) for e in _svc(dns_infos=infos)}
    p = "web.ns.fed.svc"
    assert by_name[f"{p}.example.org"] == ("A", ["1.1.1.1", "3.3.3.3"])
    assert by_name[f"{p}.eu.example.org"] == ("A", ["1.1.1.1"])
    assert by_name[f"{p}.eu-b.eu.example.org"] == ("CNAME", [f"{p}.eu.example.org"])
    assert by_name[f"{p}.us.example.org"] == ("A", ["3.3.3.3"])
