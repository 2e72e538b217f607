"""The official Python `fastly` client against a real `mtls-proxy serve`.

Every call goes through the client exactly as a Fastly user writes it; only the host and token
point at the local admin listener (docs/admin-api.md, "Compatibility with Fastly's clients").
Shapes asserted here are those of Fastly's API as its clients parse them, recorded from the real
API where go-fastly's fixtures hold recordings.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastly.exceptions import ApiException, NotFoundException, UnauthorizedException

import pki as pki_mod
from client import (
    Apis,
    activation_body,
    api_error,
    as_dict,
    cert_body,
    config_body,
    error_text,
    key_body,
    ma_body,
    ma_member,
    raw,
    rel_id,
    rel_ids,
    with_status,
)

ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
WIRE_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"


def as_dt(value) -> dt.datetime:
    """A timestamp from a typed (datetime) or free-form (str) response, as aware UTC."""
    if isinstance(value, str):
        assert value.endswith("Z"), f"timestamp without literal Z: {value!r}"
        value = dt.datetime.fromisoformat(value[:-1] + "+00:00")
    assert isinstance(value, dt.datetime), value
    assert value.utcoffset() == dt.timedelta(0), value
    return value


def page_param(link: str | None, name: str) -> str | None:
    """Value of page[name] in a link (links carry percent-encoded keys)."""
    if link is None:
        return None
    m = re.search(r"page%5B" + name + r"%5D=(\d+)", link)
    return m.group(1) if m else None


def assert_link(link, path: str, number: int, size: int) -> None:
    assert isinstance(link, str), link
    assert re.match(r"^https?://[^/]+" + re.escape(path) + r"\?", link), link
    assert page_param(link, "number") == str(number), link
    assert page_param(link, "size") == str(size), link


def ma_get(apis: Apis, ma_id: str, include: str | None = None) -> dict:
    kwargs = {"include": include} if include else {}
    return as_dict(apis.ma.get_mutual_authentication(ma_id, **kwargs))


def setup_activation(apis: Apis, pki, domain: str = "www.example.com"):
    """Upload the ECDSA key and certificate and activate `domain` on the default config."""
    key = apis.create_key(pki.ec_leaf.key_pkcs8, name="ec key")
    cert = apis.create_cert(pki.ec_leaf.cert_pem, name="ec cert")
    act = apis.create_activation(cert["id"], domain)
    return key, cert, act


# ---------------------------------------------------------------------------------------------
# Mutual authentications
# ---------------------------------------------------------------------------------------------


def test_ma_create_defaults_enforced_true_and_generates_name(apis, pki):
    body = ma_body(cert_bundle=pki.bundle(pki.client_ca))
    resp, status, headers = with_status(apis.ma.create_mutual_tls_authentication, mutual_authentication=body)
    assert status == 201
    assert headers.get("Content-Type") == "application/vnd.api+json"
    data = as_dict(resp)["data"]
    assert ID_RE.match(data["id"]), data["id"]
    assert data["type"] == "mutual_authentication"
    attrs = data["attributes"]
    assert attrs["enforced"] is True
    assert isinstance(attrs["name"], str) and attrs["name"], attrs
    assert "cert_bundle" not in attrs
    as_dt(attrs["created_at"])
    as_dt(attrs["updated_at"])
    assert data["relationships"]["tls_activations"]["data"] == []
    # The typed model works for id/type/relationships (attributes raises: a client bug).
    assert resp.data.id == data["id"]

    got = ma_get(apis, data["id"])["data"]
    assert got["attributes"]["enforced"] is True
    assert got["attributes"]["name"] == attrs["name"]
    assert "cert_bundle" not in got["attributes"]


def test_ma_create_keeps_enforced_false_and_name(apis, pki):
    data = apis.create_ma(pki.bundle(pki.client_ca, pki.client_ca2), enforced=False, name="fail open")
    assert data["attributes"]["enforced"] is False
    assert data["attributes"]["name"] == "fail open"
    got = ma_get(apis, data["id"])["data"]
    assert got["attributes"]["enforced"] is False
    assert got["attributes"]["name"] == "fail open"


def test_ma_generated_names_are_distinct(apis, pki):
    a = apis.create_ma(pki.bundle(pki.client_ca))
    b = apis.create_ma(pki.bundle(pki.client_ca))
    assert a["id"] != b["id"]
    assert a["attributes"]["name"] and b["attributes"]["name"]


def test_ma_list_empty(apis):
    resp = apis.ma.list_mutual_authentications()
    doc = as_dict(resp)
    assert doc["data"] == []
    meta = doc["meta"]
    assert meta["record_count"] == 0
    # Default page size for mutual authentications is 100 (as a recording of the real API shows).
    assert meta["per_page"] == 100
    assert doc["links"]["prev"] is None and doc["links"]["next"] is None


def test_ma_list_pagination(apis, pki):
    created = [apis.create_ma(pki.bundle(pki.client_ca), name=f"ma-{i}")["id"] for i in range(3)]
    path = "/tls/mutual_authentications"
    seen = []
    for number in (1, 2, 3):
        resp = apis.ma.list_mutual_authentications(
            include="tls_activations", page_number=number, page_size=1
        )
        doc = as_dict(resp)
        assert len(doc["data"]) == 1, doc
        seen.append(doc["data"][0]["id"])
        assert doc["data"][0]["type"] == "mutual_authentication"
        meta = doc["meta"]
        assert (meta["per_page"], meta["current_page"]) == (1, number), meta
        assert (meta["record_count"], meta["total_pages"]) == (3, 3), meta
        links = doc["links"]
        assert_link(links["first"], path, 1, 1)
        assert_link(links["last"], path, 3, 1)
        assert_link(links["self"], path, number, 1)
        # Links keep the other query parameters.
        assert "include=tls_activations" in links["self"], links["self"]
        if number == 1:
            assert links["prev"] is None
        else:
            assert_link(links["prev"], path, number - 1, 1)
        if number == 3:
            assert links["next"] is None
        else:
            assert_link(links["next"], path, number + 1, 1)
        # Typed access to links/meta works in the client.
        assert resp.meta.record_count == 3
    assert sorted(seen) == sorted(created)

    beyond = as_dict(apis.ma.list_mutual_authentications(page_number=4, page_size=1))
    assert beyond["data"] == []
    assert beyond["meta"]["record_count"] == 3
    assert beyond["meta"]["per_page"] == 1
    assert beyond["meta"]["total_pages"] == 3
    assert beyond["links"]["next"] is None

    two = as_dict(apis.ma.list_mutual_authentications(page_number=2, page_size=2))
    assert len(two["data"]) == 1
    assert two["meta"]["total_pages"] == 2
    assert two["links"]["next"] is None

    everything = as_dict(apis.ma.list_mutual_authentications())
    assert sorted(m["id"] for m in everything["data"]) == sorted(created)
    assert everything["meta"]["total_pages"] == 1


@pytest.mark.parametrize("number", [0, -1, 10**12])
def test_odd_page_numbers_do_not_break_the_server(apis, pki, number):
    apis.create_ma(pki.bundle(pki.client_ca))
    try:
        doc = as_dict(apis.ma.list_mutual_authentications(page_number=number, page_size=1))
    except ApiException as e:
        # A 400 is a fine answer to a nonsensical page number; a 404 or a 5xx is not.
        assert e.status == 400, (e.status, e.body)
        error_text(e)
    else:
        assert 1 <= doc["meta"]["per_page"] <= 100
        assert doc["meta"]["record_count"] == 1
    # Still serving.
    assert as_dict(apis.ma.list_mutual_authentications())["meta"]["record_count"] == 1


def test_ma_get_unknown_is_404(apis):
    with pytest.raises(NotFoundException) as exc:
        apis.ma.get_mutual_authentication(UNKNOWN_ID)
    assert exc.value.status == 404
    error_text(exc.value)


def test_ma_patch_absent_attributes_unchanged(apis, pki):
    ma = apis.create_ma(pki.bundle(pki.client_ca), name="orig")
    ma_id = ma["id"]
    assert ma["attributes"]["enforced"] is True
    first_updated = as_dt(ma["attributes"]["updated_at"])

    # Only enforced: explicit false is applied, name kept.
    resp, status, _ = with_status(
        apis.ma.patch_mutual_authentication, ma_id, mutual_authentication=ma_body(enforced=False)
    )
    assert status == 200
    attrs = as_dict(resp)["data"]["attributes"]
    assert attrs["enforced"] is False and attrs["name"] == "orig"
    got = ma_get(apis, ma_id)["data"]["attributes"]
    assert got["enforced"] is False and got["name"] == "orig"

    # Only name: enforced stays false.
    attrs = as_dict(
        apis.ma.patch_mutual_authentication(ma_id, mutual_authentication=ma_body(name="renamed"))
    )["data"]["attributes"]
    assert attrs["enforced"] is False and attrs["name"] == "renamed"

    # New bundle: accepted, nothing else changes, updated_at moves forward (or stays).
    attrs = as_dict(
        apis.ma.patch_mutual_authentication(
            ma_id, mutual_authentication=ma_body(cert_bundle=pki.bundle(pki.client_ca2))
        )
    )["data"]["attributes"]
    assert attrs["enforced"] is False and attrs["name"] == "renamed"
    assert "cert_bundle" not in attrs
    assert as_dt(attrs["updated_at"]) >= first_updated

    # Explicit true.
    attrs = as_dict(
        apis.ma.patch_mutual_authentication(ma_id, mutual_authentication=ma_body(enforced=True))
    )["data"]["attributes"]
    assert attrs["enforced"] is True and attrs["name"] == "renamed"

    # A bad bundle on PATCH is a 400 naming cert_bundle, and nothing changes.
    exc = api_error(
        apis.ma.patch_mutual_authentication,
        ma_id,
        mutual_authentication=ma_body(cert_bundle="not a certificate", enforced=False),
    )
    assert exc.status == 400
    assert "cert_bundle" in error_text(exc)
    got = ma_get(apis, ma_id)["data"]["attributes"]
    assert got["enforced"] is True and got["name"] == "renamed"

    # Unknown id.
    with pytest.raises(NotFoundException):
        apis.ma.patch_mutual_authentication(UNKNOWN_ID, mutual_authentication=ma_body(name="x"))


def test_ma_delete(apis, pki):
    ma = apis.create_ma(pki.bundle(pki.client_ca))
    keep = apis.create_ma(pki.bundle(pki.client_ca2))
    resp, status, _ = with_status(apis.ma.delete_mutual_tls, ma["id"])
    assert status == 204
    assert resp is None
    with pytest.raises(NotFoundException):
        apis.ma.get_mutual_authentication(ma["id"])
    with pytest.raises(NotFoundException):
        apis.ma.delete_mutual_tls(ma["id"])
    remaining = as_dict(apis.ma.list_mutual_authentications())["data"]
    assert [m["id"] for m in remaining] == [keep["id"]]


def _bad_bundles(p: pki_mod.TestPki) -> dict[str, str]:
    ca = p.client_ca.cert_pem
    return {
        "empty": "",
        "whitespace": "  \n",
        "garbage": "this is not PEM at all",
        "key_only": p.client_ca.key_pkcs8,
        "cert_plus_private_key": ca + p.client_ca.key_pkcs8,
        "cert_plus_ec_private_key": ca + pki_mod.key_pem_sec1(p.client_ca.key),
        "corrupt_certificate": "-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n",
        "truncated_pem": ca[: len(ca) // 2],
    }


BAD_BUNDLE_CASES = [
    "empty",
    "whitespace",
    "garbage",
    "key_only",
    "cert_plus_private_key",
    "cert_plus_ec_private_key",
    "corrupt_certificate",
    "truncated_pem",
]


@pytest.mark.parametrize("case", BAD_BUNDLE_CASES)
def test_ma_bad_bundle_is_400_naming_cert_bundle(apis, pki, case):
    bundle = _bad_bundles(pki)[case]
    exc = api_error(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(cert_bundle=bundle, name=f"bad {case}"),
    )
    assert exc.status == 400, (exc.status, exc.body)
    assert "cert_bundle" in error_text(exc), exc.body
    # Nothing was stored.
    assert as_dict(apis.ma.list_mutual_authentications())["meta"]["record_count"] == 0


def test_ma_bundle_limits(apis, pki):
    ca = pki.client_ca.cert_pem  # an ECDSA CA: ~600 bytes of PEM
    assert len(ca) * 1001 < 1024 * 1024
    cases = {
        # Over 1,000 certificates (but under 1 MiB).
        "too_many_certificates": (ca * 1001, 400),
        # Over 1 MiB (one certificate and explanatory text, which PEM allows).
        "over_1_MiB": (ca + ("# padding\n" * 110_000), 400),
    }
    for case, (bundle, status) in cases.items():
        exc = api_error(
            apis.ma.create_mutual_tls_authentication,
            mutual_authentication=ma_body(cert_bundle=bundle),
        )
        assert exc.status == status, (case, exc.status, exc.body[:500])
        assert "cert_bundle" in error_text(exc), (case, exc.body[:500])
    # Exactly 1,000 certificates is fine.
    ok = apis.create_ma(ca * 1000, name="thousand")
    assert ok["attributes"]["name"] == "thousand"
    assert as_dict(apis.ma.list_mutual_authentications())["meta"]["record_count"] == 1


MAX_BODY_BYTES = 2 * 1024 * 1024


def padded_ma_document(bundle: str, size: int) -> bytes:
    """A mutual authentication create document padded with JSON whitespace to `size` bytes."""
    doc = json.dumps(
        {"data": {"type": "mutual_authentication", "attributes": {"cert_bundle": bundle}}}
    ).encode()
    assert len(doc) < size
    return doc[:-1] + b" " * (size - len(doc)) + b"}"


def test_request_body_over_2_MiB_is_413(apis, server, pki):
    # Sent through the client's own connection pool, but as exact bytes: the generated client
    # cannot pad a body to a given size. The limit is on bytes, whatever they hold.
    url = server.url + "/tls/mutual_authentications"
    headers = {"Fastly-Key": server.token, "Content-Type": "application/vnd.api+json"}
    pool = apis.client.rest_client.pool_manager
    at_limit = pool.request("POST", url, body=padded_ma_document(pki.client_ca.cert_pem,
                            MAX_BODY_BYTES), headers=headers)
    assert at_limit.status == 201, at_limit.data[:500]
    # One byte over. The server reads up to that byte, which is the last one sent, so no unread
    # data is left for the kernel to answer with a reset: the 413 always reaches the client.
    over = pool.request("POST", url, body=padded_ma_document(pki.client_ca.cert_pem,
                        MAX_BODY_BYTES + 1), headers=headers)
    assert over.status == 413, over.data[:500]
    errors = json.loads(over.data)["errors"]
    assert str(MAX_BODY_BYTES) in errors[0]["detail"], errors
    assert as_dict(apis.ma.list_mutual_authentications())["meta"]["record_count"] == 1


def test_ma_name_limit(apis, pki):
    bundle = pki.bundle(pki.client_ca)
    ok = apis.create_ma(bundle, name="n" * 255)
    assert ok["attributes"]["name"] == "n" * 255
    exc = api_error(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(cert_bundle=bundle, name="n" * 256),
    )
    assert exc.status == 400
    assert "name" in error_text(exc)
    exc = api_error(
        apis.ma.patch_mutual_authentication, ok["id"], mutual_authentication=ma_body(name="é" * 128)
    )
    assert exc.status == 400, "256 bytes of UTF-8 must be over the 255-byte limit"
    assert ma_get(apis, ok["id"])["data"]["attributes"]["name"] == "n" * 255


def test_ma_missing_bundle_is_400(apis):
    exc = api_error(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(name="no bundle", enforced=True),
    )
    assert exc.status == 400
    assert "cert_bundle" in error_text(exc)
    assert as_dict(apis.ma.list_mutual_authentications())["meta"]["record_count"] == 0


# ---------------------------------------------------------------------------------------------
# Private key -> certificate -> activation -> mutual authentication
# ---------------------------------------------------------------------------------------------


def test_key_cert_activation_attach_detach_flow(apis, pki):
    # Private key (PKCS#8 ECDSA P-256).
    resp, status, _ = with_status(
        apis.keys.create_tls_key,
        tls_private_key=key_body(pki.ec_leaf.key_pkcs8, "ec key"),
    )
    assert status == 201
    key = as_dict(resp)["data"]
    assert ID_RE.match(key["id"]) and key["type"] == "tls_private_key"
    assert key["attributes"]["name"] == "ec key"
    assert key["attributes"]["key_length"] == 256
    assert "key" not in key["attributes"]
    # Key responses are free of the allOf bug: typed attributes work.
    assert resp.data.attributes.key_length == 256

    # Certificate.
    resp, status, _ = with_status(
        apis.certs.create_tls_cert, tls_certificate=cert_body(pki.ec_leaf.cert_pem, "ec cert")
    )
    assert status == 201
    cert = as_dict(resp)["data"]
    assert ID_RE.match(cert["id"]) and cert["type"] == "tls_certificate"
    assert sorted(rel_ids(cert, "tls_domains")) == ["*.example.com", "www.example.com"]

    # Activation with the default configuration omitted.
    default_conf = apis.default_config()
    resp, status, _ = with_status(
        apis.acts.create_tls_activation,
        tls_activation=activation_body(cert_id=cert["id"], domain="www.example.com"),
    )
    assert status == 201
    act = as_dict(resp)["data"]
    assert ID_RE.match(act["id"]) and act["type"] == "tls_activation"
    assert rel_id(act, "tls_certificate") == cert["id"]
    assert rel_id(act, "tls_domain") == "www.example.com"
    assert rel_id(act, "tls_configuration") == default_conf["id"]
    assert rel_id(act, "mutual_authentication") is None
    as_dt(act["attributes"]["created_at"])

    # Mutual authentication, attached through PATCH /tls/activations.
    ma = apis.create_ma(pki.bundle(pki.client_ca), name="clients")
    resp, status, _ = with_status(
        apis.acts.update_tls_activation,
        act["id"],
        tls_activation=activation_body(mutual_authentication={"data": ma_member(ma["id"])}),
    )
    assert status == 200
    patched = as_dict(resp)["data"]
    assert rel_id(patched, "mutual_authentication") == ma["id"]
    # Unchanged relationships stay.
    assert rel_id(patched, "tls_certificate") == cert["id"]
    assert rel_id(patched, "tls_domain") == "www.example.com"
    assert rel_id(patched, "tls_configuration") == default_conf["id"]

    # Activation -> MA, with include.
    doc = as_dict(
        apis.acts.get_tls_activation(
            act["id"], include="tls_certificate,tls_configuration,tls_domain"
        )
    )
    assert rel_id(doc["data"], "mutual_authentication") == ma["id"]
    included = {(r["type"], r["id"]) for r in doc.get("included", [])}
    assert ("tls_certificate", cert["id"]) in included, doc.get("included")
    assert ("tls_configuration", default_conf["id"]) in included, doc.get("included")
    assert ("tls_domain", "www.example.com") in included, doc.get("included")

    # MA -> activation, with include.
    doc = ma_get(apis, ma["id"], include="tls_activations")
    assert doc["data"]["relationships"]["tls_activations"]["data"] == [
        {"id": act["id"], "type": "tls_activation"}
    ]
    inc = doc.get("included")
    assert isinstance(inc, list) and len(inc) == 1, doc
    assert inc[0]["type"] == "tls_activation" and inc[0]["id"] == act["id"]
    assert inc[0]["relationships"]["mutual_authentication"]["data"]["id"] == ma["id"]
    assert inc[0]["relationships"]["tls_domain"]["data"]["id"] == "www.example.com"
    # Without include there is no included member but the linkage is there.
    doc = ma_get(apis, ma["id"])
    assert not doc.get("included")
    assert rel_ids(doc["data"], "tls_activations") == [act["id"]]
    # The list with include carries it too.
    lst = as_dict(apis.ma.list_mutual_authentications(include="tls_activations"))
    assert [r["id"] for r in lst.get("included", [])] == [act["id"]]

    # Deletions that must be refused while in use: 409 with a JSON:API error.
    for fn, rid in (
        (apis.ma.delete_mutual_tls, ma["id"]),
        (apis.certs.delete_tls_cert, cert["id"]),
        (apis.keys.delete_tls_key, key["id"]),
    ):
        exc = api_error(fn, rid)
        assert exc.status == 409, (fn.__name__, exc.status, exc.body)
        error_text(exc)
    # ...and nothing was deleted.
    ma_get(apis, ma["id"])
    apis.certs.get_tls_cert(cert["id"])
    apis.keys.get_tls_key(key["id"])

    # Detach with data: null.
    detached = apis.set_activation_ma(act["id"], None)
    assert rel_id(detached, "mutual_authentication") is None
    assert rel_id(detached, "tls_certificate") == cert["id"]
    got = as_dict(apis.acts.get_tls_activation(act["id"]))["data"]
    assert rel_id(got, "mutual_authentication") is None
    assert rel_ids(ma_get(apis, ma["id"])["data"], "tls_activations") == []

    # Attach again, then detach with a member without id (what Terraform sends).
    assert rel_id(apis.set_activation_ma(act["id"], ma_member(ma["id"])), "mutual_authentication") == ma["id"]
    detached = apis.set_activation_ma(act["id"], {"type": "mutual_authentication"})
    assert rel_id(detached, "mutual_authentication") is None
    assert rel_ids(ma_get(apis, ma["id"])["data"], "tls_activations") == []

    # Attaching an unknown mutual authentication fails and changes nothing.
    exc = api_error(apis.set_activation_ma, act["id"], ma_member(UNKNOWN_ID))
    assert 400 <= exc.status < 500
    assert rel_id(as_dict(apis.acts.get_tls_activation(act["id"]))["data"], "mutual_authentication") is None

    # Now the MA can go; delete the rest in order.
    assert with_status(apis.ma.delete_mutual_tls, ma["id"])[1] == 204
    assert with_status(apis.acts.delete_tls_activation, act["id"])[1] == 204
    with pytest.raises(NotFoundException):
        apis.acts.get_tls_activation(act["id"])
    assert with_status(apis.certs.delete_tls_cert, cert["id"])[1] == 204
    with pytest.raises(NotFoundException):
        apis.certs.get_tls_cert(cert["id"])
    assert with_status(apis.keys.delete_tls_key, key["id"])[1] == 204
    with pytest.raises(NotFoundException):
        apis.keys.get_tls_key(key["id"])
    assert as_dict(apis.acts.list_tls_activations())["data"] == []


def test_activation_domain_rules(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem)
    # Wildcard SAN covers one label.
    wild = apis.create_activation(cert["id"], "api.example.com")
    assert rel_id(wild, "tls_domain") == "api.example.com"
    for domain in ("a.b.example.com", "www.example.org", "example.com"):
        exc = api_error(apis.create_activation, cert["id"], domain)
        assert exc.status == 400, (domain, exc.status, exc.body)
        error_text(exc)
    # One activation per domain.
    apis.create_activation(cert["id"], "www.example.com")
    exc = api_error(apis.create_activation, cert["id"], "www.example.com")
    assert 400 <= exc.status < 500, exc.body
    # Unknown certificate.
    exc = api_error(apis.create_activation, UNKNOWN_ID, "www.example.com")
    assert 400 <= exc.status < 500
    acts = as_dict(apis.acts.list_tls_activations())["data"]
    assert sorted(rel_id(a, "tls_domain") for a in acts) == ["api.example.com", "www.example.com"]


def test_activation_list_filters_and_explicit_config(apis, pki):
    conf = apis.default_config()
    apis.create_key(pki.ec_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem)
    a1 = apis.create_activation(cert["id"], "www.example.com", config_id=conf["id"])
    a2 = apis.create_activation(cert["id"], "api.example.com")
    assert rel_id(a1, "tls_configuration") == conf["id"]

    by_domain = as_dict(apis.acts.list_tls_activations(filter_tls_domain_id="api.example.com"))
    assert [a["id"] for a in by_domain["data"]] == [a2["id"]]
    by_cert = as_dict(apis.acts.list_tls_activations(filter_tls_certificate_id=cert["id"]))
    assert sorted(a["id"] for a in by_cert["data"]) == sorted([a1["id"], a2["id"]])
    assert as_dict(apis.acts.list_tls_activations(filter_tls_certificate_id=UNKNOWN_ID))["data"] == []
    by_conf = as_dict(apis.acts.list_tls_activations(filter_tls_configuration_id=conf["id"]))
    assert len(by_conf["data"]) == 2
    paged = as_dict(apis.acts.list_tls_activations(page_number=2, page_size=1))
    assert paged["meta"]["record_count"] == 2 and len(paged["data"]) == 1
    assert paged["links"]["next"] is None

    with_inc = as_dict(apis.acts.list_tls_activations(include="tls_certificate"))
    assert {(r["type"], r["id"]) for r in with_inc.get("included", [])} == {("tls_certificate", cert["id"])}

    # Default list page size elsewhere is 20.
    assert as_dict(apis.acts.list_tls_activations())["meta"]["per_page"] == 20


def test_activation_certificate_swap_keeps_mtls(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    apis.create_key(pki.ec_leaf2.key_pkcs8)
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    cert1 = apis.create_cert(pki.ec_leaf.cert_pem)["id"]
    cert2 = apis.create_cert(pki.ec_leaf2.cert_pem)["id"]
    other = apis.create_cert(pki.rsa_leaf.cert_pem)["id"]  # rsa.example.net only
    act = apis.create_activation(cert1, "www.example.com")
    act2 = apis.create_activation(cert1, "api.example.com")
    ma = apis.create_ma(pki.bundle(pki.client_ca))
    apis.set_activation_ma(act["id"], ma_member(ma["id"]))
    apis.set_activation_ma(act2["id"], ma_member(ma["id"]))

    # One mutual authentication on two activations: both linked, both included.
    doc = ma_get(apis, ma["id"], include="tls_activations")
    assert sorted(rel_ids(doc["data"], "tls_activations")) == sorted([act["id"], act2["id"]])
    assert sorted(r["id"] for r in doc["included"]) == sorted([act["id"], act2["id"]])

    # PATCH with only tls_certificate: the certificate changes, the mutual_authentication
    # relationship is absent from the body and so stays (an absent relationship is unchanged).
    resp, status, _ = with_status(
        apis.acts.update_tls_activation, act["id"], tls_activation=activation_body(cert_id=cert2)
    )
    assert status == 200
    got = as_dict(apis.acts.get_tls_activation(act["id"]))["data"]
    assert rel_id(got, "tls_certificate") == cert2
    assert rel_id(got, "mutual_authentication") == ma["id"]
    assert rel_id(got, "tls_domain") == "www.example.com"

    # A certificate that does not cover the domain is refused; nothing changes.
    exc = api_error(
        apis.acts.update_tls_activation, act["id"], tls_activation=activation_body(cert_id=other)
    )
    assert exc.status == 400, (exc.status, exc.body)
    error_text(exc)
    got = as_dict(apis.acts.get_tls_activation(act["id"]))["data"]
    assert rel_id(got, "tls_certificate") == cert2
    assert rel_id(got, "mutual_authentication") == ma["id"]

    # Unknown activation.
    with pytest.raises(NotFoundException):
        apis.acts.update_tls_activation(UNKNOWN_ID, tls_activation=activation_body(cert_id=cert2))


def test_certificate_replacement_must_cover_active_domains(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    apis.create_key(pki.ec_leaf2.key_pkcs8)
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem, name="live")["id"]
    apis.create_activation(cert, "www.example.com")

    exc = api_error(
        apis.certs.update_tls_cert, cert, tls_certificate=cert_body(pki.rsa_leaf.cert_pem)
    )
    assert exc.status == 400, (exc.status, exc.body)
    error_text(exc)
    attrs = as_dict(apis.certs.get_tls_cert(cert))["data"]["attributes"]
    assert attrs["serial_number"] == str(pki.ec_leaf.cert.serial_number)

    # Same SANs, other (uploaded) key: accepted; derived attributes follow the new blob.
    resp, status, _ = with_status(
        apis.certs.update_tls_cert, cert, tls_certificate=cert_body(pki.ec_leaf2.cert_pem)
    )
    assert status == 200
    attrs = as_dict(resp)["data"]["attributes"]
    assert attrs["serial_number"] == str(pki.ec_leaf2.cert.serial_number)
    assert attrs["name"] == "live"
    assert as_dt(attrs["not_after"]) == pki.ec_leaf2.cert.not_valid_after_utc
    blob = as_dict(apis.certs.get_tls_cert_blob(cert))["cert_blob"]
    assert pki.ec_leaf2.cert_pem.strip() in blob


# ---------------------------------------------------------------------------------------------
# Domains and configurations
# ---------------------------------------------------------------------------------------------


def test_tls_domains_derived_from_certificates_and_activations(apis, pki):
    assert as_dict(apis.domains.list_tls_domains())["data"] == []
    apis.create_key(pki.ec_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem)
    doc = as_dict(apis.domains.list_tls_domains())
    by_id = {d["id"]: d for d in doc["data"]}
    assert set(by_id) == {"www.example.com", "*.example.com"}
    for d in by_id.values():
        assert d["type"] == "tls_domain"
        assert rel_ids(d, "tls_certificates") == [cert["id"]]
        assert rel_ids(d, "tls_activations") == []
    assert doc["meta"]["record_count"] == 2 and doc["meta"]["per_page"] == 20

    act = apis.create_activation(cert["id"], "www.example.com")
    by_id = {d["id"]: d for d in as_dict(apis.domains.list_tls_domains())["data"]}
    assert rel_ids(by_id["www.example.com"], "tls_activations") == [act["id"]]

    only_cert = as_dict(apis.domains.list_tls_domains(filter_tls_certificates_id=cert["id"]))
    assert {d["id"] for d in only_cert["data"]} == {"www.example.com", "*.example.com"}
    paged = as_dict(apis.domains.list_tls_domains(page_number=1, page_size=1))
    assert len(paged["data"]) == 1 and paged["meta"]["total_pages"] == 2


def test_tls_domains_filters_and_sort(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem)
    apis.create_cert(pki.rsa_leaf.cert_pem)
    apis.create_activation(cert["id"], "www.example.com")

    def ids(**kwargs):
        return [d["id"] for d in as_dict(apis.domains.list_tls_domains(**kwargs))["data"]]

    everything = ["*.example.com", "rsa.example.net", "www.example.com"]
    assert sorted(ids()) == everything
    assert ids(sort="id") == sorted(everything)
    assert ids(sort="-id") == sorted(everything, reverse=True)
    assert "www.example.com" in ids(filter_in_use="true")
    assert "rsa.example.net" not in ids(filter_in_use="true")
    assert "rsa.example.net" in ids(filter_in_use="false")
    assert "www.example.com" not in ids(filter_in_use="false")
    doc = as_dict(apis.domains.list_tls_domains(include="tls_certificates"))
    assert {(r["type"], r["id"]) for r in doc.get("included", [])} >= {("tls_certificate", cert["id"])}


def test_tls_configurations(apis):
    doc = as_dict(apis.configs.list_tls_configs())
    defaults = [c for c in doc["data"] if c["attributes"]["default"] is True]
    assert len(defaults) == 1
    conf = defaults[0]
    assert ID_RE.match(conf["id"]) and conf["type"] == "tls_configuration"
    attrs = conf["attributes"]
    assert attrs["tls_protocols"] == ["1.2", "1.3"]
    assert attrs["http_protocols"] == ["http/1.1", "http/2"]
    assert isinstance(attrs["name"], str) and attrs["name"]
    assert doc["meta"]["per_page"] >= 1

    got = as_dict(apis.configs.get_tls_config(conf["id"]))["data"]
    assert got["id"] == conf["id"]
    assert got["attributes"]["default"] is True
    assert got["attributes"]["tls_protocols"] == ["1.2", "1.3"]

    resp, status, _ = with_status(
        apis.configs.update_tls_config, conf["id"], tls_configuration=config_body("renamed conf")
    )
    assert status == 200
    attrs = as_dict(resp)["data"]["attributes"]
    assert attrs["name"] == "renamed conf"
    assert attrs["default"] is True and attrs["tls_protocols"] == ["1.2", "1.3"]
    assert as_dict(apis.configs.get_tls_config(conf["id"]))["data"]["attributes"]["name"] == "renamed conf"

    with pytest.raises(NotFoundException):
        apis.configs.get_tls_config(UNKNOWN_ID)


# ---------------------------------------------------------------------------------------------
# Private keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spare, encoding, key_length, rsa",
    [
        ("ec_p256", "pkcs8", 256, False),
        ("ec_p256", "sec1", 256, False),
        ("ec_p384", "sec1", 384, False),
        ("ec_p384", "pkcs8", 384, False),
        ("rsa_2048_pkcs1", "pkcs1", 2048, True),
        ("rsa_2048_pkcs8", "pkcs8", 2048, True),
    ],
)
def test_private_key_encodings(apis, pki, spare, encoding, key_length, rsa):
    key = pki.spare_keys[spare]
    pem = {
        "pkcs8": pki_mod.key_pem_pkcs8,
        "sec1": pki_mod.key_pem_sec1,
        "pkcs1": pki_mod.key_pem_pkcs1,
    }[encoding](key)
    resp, status, _ = with_status(
        apis.keys.create_tls_key,
        tls_private_key=key_body(pem, f"{spare} {encoding}"),
    )
    assert status == 201
    data = as_dict(resp)["data"]
    attrs = data["attributes"]
    assert attrs["key_length"] == key_length
    if rsa:
        assert attrs["key_type"] == "RSA"
    else:
        assert isinstance(attrs["key_type"], str) and attrs["key_type"] not in ("", "RSA")
    assert attrs["public_key_sha1"] in pki_mod.public_key_sha1_candidates(key), attrs
    assert attrs["replace"] is False
    assert "key" not in attrs
    got = as_dict(apis.keys.get_tls_key(data["id"]))["data"]
    assert got["attributes"]["key_length"] == key_length
    assert "key" not in got["attributes"]


@pytest.mark.parametrize("case", ["garbage", "empty", "rsa_1024", "certificate_instead"])
def test_private_key_bad_input_is_400(apis, pki, case):
    pem = {
        "garbage": "not a key",
        "empty": "",
        "rsa_1024": pki_mod.key_pem_pkcs8(pki.spare_keys["rsa_1024"]),
        "certificate_instead": pki.ec_leaf.cert_pem,
    }[case]
    exc = api_error(
        apis.keys.create_tls_key, tls_private_key=key_body(pem, "bad")
    )
    assert exc.status == 400, (exc.status, exc.body)
    assert "key" in error_text(exc)
    assert as_dict(apis.keys.list_tls_keys())["data"] == []


def test_private_key_list_filter_in_use(apis, pki):
    used = apis.create_key(pki.ec_leaf.key_pkcs8, "used")
    spare = apis.create_key(pki_mod.key_pem_pkcs8(pki.spare_keys["ec_p256"]), "spare")
    apis.create_cert(pki.ec_leaf.cert_pem)
    unused = as_dict(apis.keys.list_tls_keys(filter_in_use="false"))
    assert [k["id"] for k in unused["data"]] == [spare["id"]]
    assert "filter%5Bin_use%5D=false" in unused["links"]["first"], unused["links"]
    everything = as_dict(apis.keys.list_tls_keys())
    assert sorted(k["id"] for k in everything["data"]) == sorted([used["id"], spare["id"]])
    assert everything["meta"]["per_page"] == 20


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


def test_certificate_attributes_and_blob(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    # Leaf plus an intermediate (here the issuing CA) in one blob; no name: defaults to CN/SAN.
    chain = pki.ec_leaf.cert_pem + pki.ec_ca.cert_pem
    cert = apis.create_cert(chain)
    attrs = cert["attributes"]
    leaf = pki.ec_leaf.cert
    assert attrs["name"] == "www.example.com"
    assert attrs["issued_to"] == "www.example.com"
    assert attrs["issuer"] == pki.ec_ca.common_name
    assert attrs["serial_number"] == str(leaf.serial_number)  # decimal string, > 2^64
    assert attrs["signature_algorithm"] == "ECDSA-SHA256"
    assert as_dt(attrs["not_before"]) == leaf.not_valid_before_utc
    assert as_dt(attrs["not_after"]) == leaf.not_valid_after_utc
    assert attrs["replace"] is False
    assert "cert_blob" not in attrs
    assert sorted(rel_ids(cert, "tls_domains")) == ["*.example.com", "www.example.com"]

    got = as_dict(apis.certs.get_tls_cert(cert["id"]))["data"]
    assert got["attributes"]["serial_number"] == str(leaf.serial_number)
    assert got["attributes"]["signature_algorithm"] == "ECDSA-SHA256"

    blob = as_dict(apis.certs.get_tls_cert_blob(cert["id"]))["cert_blob"]
    from cryptography import x509

    parsed = x509.load_pem_x509_certificates(blob.encode())
    assert [c.serial_number for c in parsed] == [leaf.serial_number, pki.ec_ca.cert.serial_number]

    # RSA leaf signed by an RSA CA.
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    rsa_cert = apis.create_cert(pki.rsa_leaf.cert_pem, name="rsa cert")
    assert rsa_cert["attributes"]["signature_algorithm"] == "SHA256-RSA"
    assert rsa_cert["attributes"]["name"] == "rsa cert"
    assert rel_ids(rsa_cert, "tls_domains") == ["rsa.example.net"]


def test_certificate_without_matching_key_is_400(apis, pki):
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    exc = api_error(apis.certs.create_tls_cert, tls_certificate=cert_body(pki.ec_leaf.cert_pem))
    assert exc.status == 400, (exc.status, exc.body)
    error_text(exc)
    exc = api_error(apis.certs.create_tls_cert, tls_certificate=cert_body("garbage"))
    assert exc.status == 400
    assert as_dict(apis.certs.list_tls_certs())["data"] == []


def test_certificate_list_filters_sort_and_update(apis, pki):
    apis.create_key(pki.ec_leaf.key_pkcs8)
    apis.create_key(pki.rsa_leaf.key_pkcs8)
    ec = apis.create_cert(pki.ec_leaf.cert_pem, name="ec")  # not_after +400 days
    rsa = apis.create_cert(pki.rsa_leaf.cert_pem, name="rsa")  # not_after +30 days
    apis.create_activation(ec["id"], "www.example.com")

    def ids(**kwargs):
        return [c["id"] for c in as_dict(apis.certs.list_tls_certs(**kwargs))["data"]]

    assert sorted(ids()) == sorted([ec["id"], rsa["id"]])
    assert ids(filter_tls_domains_id="www.example.com") == [ec["id"]]
    assert ids(filter_tls_domains_id="rsa.example.net") == [rsa["id"]]
    assert ids(filter_in_use="true") == [ec["id"]]
    assert ids(filter_in_use="false") == [rsa["id"]]
    assert ids(sort="not_after") == [rsa["id"], ec["id"]]
    assert ids(sort="-not_after") == [ec["id"], rsa["id"]]
    cutoff = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=100)).strftime("%Y-%m-%d")
    assert ids(filter_not_after=cutoff) == [rsa["id"]]
    paged = as_dict(apis.certs.list_tls_certs(page_number=1, page_size=1, sort="not_after"))
    assert [c["id"] for c in paged["data"]] == [rsa["id"]]
    assert paged["meta"]["total_pages"] == 2

    with_inc = as_dict(apis.certs.list_tls_certs(include="tls_activations", filter_in_use="true"))
    assert [r["type"] for r in with_inc.get("included", [])] == ["tls_activation"]

    resp, status, _ = with_status(
        apis.certs.update_tls_cert, rsa["id"], tls_certificate=cert_body(name="rsa renamed")
    )
    assert status == 200
    assert as_dict(resp)["data"]["attributes"]["name"] == "rsa renamed"
    got = as_dict(apis.certs.get_tls_cert(rsa["id"]))["data"]["attributes"]
    assert got["name"] == "rsa renamed"
    assert got["serial_number"] == str(pki.rsa_leaf.cert.serial_number)


# ---------------------------------------------------------------------------------------------
# Persistence across restarts
# ---------------------------------------------------------------------------------------------


def _state(apis: Apis) -> dict:
    """Everything the API shows, for before/after comparisons."""
    return {
        "ma": as_dict(apis.ma.list_mutual_authentications(include="tls_activations")),
        "keys": as_dict(apis.keys.list_tls_keys()),
        "certs": as_dict(apis.certs.list_tls_certs()),
        "acts": as_dict(apis.acts.list_tls_activations()),
        "domains": as_dict(apis.domains.list_tls_domains()),
        "configs": as_dict(apis.configs.list_tls_configs()),
    }


def test_persistence_across_graceful_restart(server, apis, pki):
    key, cert, act = setup_activation(apis, pki)
    ma = apis.create_ma(pki.bundle(pki.client_ca, pki.client_ca2), enforced=False, name="persist")
    apis.set_activation_ma(act["id"], ma_member(ma["id"]))
    conf = apis.default_config()
    apis.configs.update_tls_config(conf["id"], tls_configuration=config_body("persisted conf"))
    before = _state(apis)

    # Graceful stop (SIGTERM) exits 0, then start on the same config.
    assert server.stop() == 0, server.log_text()
    server.start()
    assert server.store_path.exists()
    after = _state(apis)
    assert after == before

    got = ma_get(apis, ma["id"], include="tls_activations")["data"]
    assert got["attributes"]["enforced"] is False and got["attributes"]["name"] == "persist"
    assert rel_ids(got, "tls_activations") == [act["id"]]
    a = as_dict(apis.acts.get_tls_activation(act["id"]))["data"]
    assert rel_id(a, "mutual_authentication") == ma["id"]
    assert rel_id(a, "tls_certificate") == cert["id"]
    assert as_dict(apis.keys.get_tls_key(key["id"]))["data"]["id"] == key["id"]
    assert as_dict(apis.configs.get_tls_config(conf["id"]))["data"]["attributes"]["name"] == "persisted conf"
    blob = as_dict(apis.certs.get_tls_cert_blob(cert["id"]))["cert_blob"]
    assert "BEGIN CERTIFICATE" in blob

    # Writes keep working after the restart and survive another one.
    apis.ma.patch_mutual_authentication(ma["id"], mutual_authentication=ma_body(enforced=True))
    server.restart()
    assert ma_get(apis, ma["id"])["data"]["attributes"]["enforced"] is True


def test_persistence_after_sigkill(server, apis, pki):
    first = apis.create_ma(pki.bundle(pki.client_ca), name="before kill")
    apis.create_key(pki.ec_leaf.key_pkcs8)
    # The 201 is the commit point: kill -9 right after it.
    resp, status, _ = with_status(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(cert_bundle=pki.bundle(pki.client_ca2), enforced=False, name="last write"),
    )
    assert status == 201
    last = as_dict(resp)["data"]
    server.restart(hard=True)

    ids = sorted(m["id"] for m in as_dict(apis.ma.list_mutual_authentications())["data"])
    assert ids == sorted([first["id"], last["id"]])
    got = ma_get(apis, last["id"])["data"]["attributes"]
    assert got["enforced"] is False and got["name"] == "last write"
    assert len(as_dict(apis.keys.list_tls_keys())["data"]) == 1

    # A patch and a delete just before another kill -9.
    apis.ma.patch_mutual_authentication(first["id"], mutual_authentication=ma_body(name="patched"))
    assert with_status(apis.ma.delete_mutual_tls, last["id"])[1] == 204
    server.restart(hard=True)
    assert ma_get(apis, first["id"])["data"]["attributes"]["name"] == "patched"
    with pytest.raises(NotFoundException):
        apis.ma.get_mutual_authentication(last["id"])


def test_failed_write_leaves_nothing_after_restart(server, apis, pki):
    exc = api_error(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(cert_bundle=pki.client_ca.cert_pem + pki.client_ca.key_pkcs8),
    )
    assert exc.status == 400
    server.restart(hard=True)
    assert as_dict(apis.ma.list_mutual_authentications())["data"] == []


# ---------------------------------------------------------------------------------------------
# Auth and wire format
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_bad_or_empty_token_is_401(server, pki, token):
    bad = Apis(server.url, token)
    with pytest.raises(UnauthorizedException) as exc:
        bad.ma.list_mutual_authentications()
    assert exc.value.status == 401
    error_text(exc.value)
    with pytest.raises(UnauthorizedException):
        bad.ma.create_mutual_tls_authentication(
            mutual_authentication=ma_body(cert_bundle=pki.bundle(pki.client_ca))
        )
    with pytest.raises(UnauthorizedException):
        bad.keys.list_tls_keys()
    with pytest.raises(UnauthorizedException):
        bad.configs.list_tls_configs()
    # Nothing was created by the rejected call.
    good = Apis(server.url, server.token)
    assert as_dict(good.ma.list_mutual_authentications())["data"] == []


def test_token_prefix_is_not_enough(server):
    bad = Apis(server.url, server.token[:-1])
    with pytest.raises(UnauthorizedException):
        bad.ma.list_mutual_authentications()
    longer = Apis(server.url, server.token + "x")
    with pytest.raises(UnauthorizedException):
        longer.ma.list_mutual_authentications()


def test_wire_format_seen_by_the_client(apis, pki):
    r = raw(
        apis.ma.create_mutual_tls_authentication,
        mutual_authentication=ma_body(cert_bundle=pki.bundle(pki.client_ca), name="wire"),
    )
    assert r.status == 201
    assert r.headers.get("Content-Type") == "application/vnd.api+json"
    doc = json.loads(r.data)
    attrs = doc["data"]["attributes"]
    assert WIRE_TS_RE.match(attrs["created_at"]), attrs["created_at"]
    assert WIRE_TS_RE.match(attrs["updated_at"]), attrs["updated_at"]
    assert set(attrs) >= {"name", "enforced"} and "cert_bundle" not in attrs
    ma_id = doc["data"]["id"]

    apis.create_key(pki.ec_leaf.key_pkcs8)
    cert = apis.create_cert(pki.ec_leaf.cert_pem)
    r = raw(apis.certs.get_tls_cert, cert["id"])
    assert r.headers.get("Content-Type") == "application/vnd.api+json"
    cattrs = json.loads(r.data)["data"]["attributes"]
    for name in ("created_at", "updated_at", "not_before", "not_after"):
        assert WIRE_TS_RE.match(cattrs[name]), (name, cattrs[name])
    assert isinstance(cattrs["serial_number"], str)
    act = apis.create_activation(cert["id"], "www.example.com")
    r = raw(apis.acts.get_tls_activation, act["id"])
    assert WIRE_TS_RE.match(json.loads(r.data)["data"]["attributes"]["created_at"])

    r = raw(apis.ma.list_mutual_authentications)
    assert r.status == 200
    assert r.headers.get("Content-Type") == "application/vnd.api+json"
    doc = json.loads(r.data)
    assert isinstance(doc["meta"]["per_page"], int)

    r = raw(apis.ma.delete_mutual_tls, ma_id)
    assert r.status == 204
    assert r.data == b""

    exc = api_error(apis.ma.get_mutual_authentication, ma_id)
    assert exc.status == 404
    assert exc.headers.get("Content-Type") == "application/vnd.api+json"
    assert json.loads(exc.body)["errors"]
