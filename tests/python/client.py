"""The official `fastly` Python client pointed at a local mtls-proxy, plus request-body builders.

Bodies are built with the client's own generated models, the way a user of the client writes
them. Two client quirks are worked around as docs/admin-api.md ("Client quirks") describes:
  * a relationship member with an `id` must be built with `_from_openapi_data` (the generated
    constructor treats `id` as read-only);
  * the activation relationship model has no `mutual_authentication`, so it is passed as a plain
    dict extra property.
Responses are read through `to_dict()`, because `resp.data.attributes` raises on mutual
authentication, certificate and configuration responses (a client bug, same section).
"""

from __future__ import annotations

import json

import fastly
from fastly.api.mutual_authentication_api import MutualAuthenticationApi
from fastly.api.tls_activations_api import TlsActivationsApi
from fastly.api.tls_certificates_api import TlsCertificatesApi
from fastly.api.tls_configurations_api import TlsConfigurationsApi
from fastly.api.tls_domains_api import TlsDomainsApi
from fastly.api.tls_private_keys_api import TlsPrivateKeysApi
from fastly.exceptions import ApiException
from fastly.model_utils import ModelSimple
from fastly.model.mutual_authentication import MutualAuthentication
from fastly.model.mutual_authentication_data import MutualAuthenticationData
from fastly.model.mutual_authentication_data_attributes import (
    MutualAuthenticationDataAttributes,
)
from fastly.model.relationship_member_tls_certificate import RelationshipMemberTlsCertificate
from fastly.model.relationship_member_tls_configuration import (
    RelationshipMemberTlsConfiguration,
)
from fastly.model.relationship_member_tls_domain import RelationshipMemberTlsDomain
from fastly.model.relationship_tls_certificate_tls_certificate import (
    RelationshipTlsCertificateTlsCertificate,
)
from fastly.model.relationship_tls_configuration_tls_configuration import (
    RelationshipTlsConfigurationTlsConfiguration,
)
from fastly.model.relationship_tls_domain_tls_domain import RelationshipTlsDomainTlsDomain
from fastly.model.relationships_for_tls_activation import RelationshipsForTlsActivation
from fastly.model.tls_activation import TlsActivation
from fastly.model.tls_activation_data import TlsActivationData
from fastly.model.tls_certificate import TlsCertificate
from fastly.model.tls_certificate_data import TlsCertificateData
from fastly.model.tls_certificate_data_attributes import TlsCertificateDataAttributes
from fastly.model.tls_configuration import TlsConfiguration
from fastly.model.tls_configuration_data import TlsConfigurationData
from fastly.model.tls_configuration_data_attributes import TlsConfigurationDataAttributes
from fastly.model.tls_private_key import TlsPrivateKey
from fastly.model.tls_private_key_data import TlsPrivateKeyData
from fastly.model.tls_private_key_data_attributes import TlsPrivateKeyDataAttributes
from fastly.model.type_mutual_authentication import TypeMutualAuthentication
from fastly.model.type_tls_activation import TypeTlsActivation
from fastly.model.type_tls_certificate import TypeTlsCertificate
from fastly.model.type_tls_configuration import TypeTlsConfiguration
from fastly.model.type_tls_domain import TypeTlsDomain
from fastly.model.type_tls_private_key import TypeTlsPrivateKey

_UNSET = object()


class Apis:
    """All TLS API groups of the official client, bound to one server and token."""

    def __init__(self, url: str, token: str | None):
        cfg = fastly.Configuration(host=url)
        if token is not None:
            cfg.api_token = token
        self.client = fastly.ApiClient(cfg)
        self.ma = MutualAuthenticationApi(self.client)
        self.keys = TlsPrivateKeysApi(self.client)
        self.certs = TlsCertificatesApi(self.client)
        self.acts = TlsActivationsApi(self.client)
        self.domains = TlsDomainsApi(self.client)
        self.configs = TlsConfigurationsApi(self.client)

    # -- short cuts used by many tests ---------------------------------------------------

    def create_ma(self, cert_bundle: str, **attrs) -> dict:
        return as_dict(
            self.ma.create_mutual_tls_authentication(
                mutual_authentication=ma_body(cert_bundle=cert_bundle, **attrs)
            )
        )["data"]

    def create_key(self, key_pem: str, name: str | None = None) -> dict:
        return as_dict(self.keys.create_tls_key(tls_private_key=key_body(key_pem, name)))["data"]

    def create_cert(self, blob: str, name: str | None = None) -> dict:
        return as_dict(self.certs.create_tls_cert(tls_certificate=cert_body(blob, name)))["data"]

    def create_activation(self, cert_id: str, domain: str, config_id: str | None = None) -> dict:
        body = activation_body(cert_id=cert_id, domain=domain, config_id=config_id)
        return as_dict(self.acts.create_tls_activation(tls_activation=body))["data"]

    def set_activation_ma(self, activation_id: str, member) -> dict:
        """PATCH the activation's mutual_authentication relationship to `{"data": member}`."""
        body = activation_body(mutual_authentication={"data": member})
        return as_dict(self.acts.update_tls_activation(activation_id, tls_activation=body))[
            "data"
        ]

    def default_config(self) -> dict:
        configs = as_dict(self.configs.list_tls_configs())["data"]
        defaults = [c for c in configs if c["attributes"].get("default") is True]
        assert len(defaults) == 1, f"expected exactly one default configuration: {configs}"
        return defaults[0]


# -- request bodies built with the client's models -------------------------------------------


def ma_body(**attrs) -> MutualAuthentication:
    return MutualAuthentication(
        data=MutualAuthenticationData(
            type=TypeMutualAuthentication("mutual_authentication"),
            attributes=MutualAuthenticationDataAttributes(**attrs),
        )
    )


def key_body(key_pem: str, name: str | None = None) -> TlsPrivateKey:
    attrs = {"key": key_pem}
    if name is not None:
        attrs["name"] = name
    return TlsPrivateKey(
        data=TlsPrivateKeyData(
            type=TypeTlsPrivateKey("tls_private_key"),
            attributes=TlsPrivateKeyDataAttributes(**attrs),
        )
    )


def cert_body(blob: str | None = None, name: str | None = None) -> TlsCertificate:
    attrs = {}
    if blob is not None:
        attrs["cert_blob"] = blob
    if name is not None:
        attrs["name"] = name
    return TlsCertificate(
        data=TlsCertificateData(
            type=TypeTlsCertificate("tls_certificate"),
            attributes=TlsCertificateDataAttributes(**attrs),
        )
    )


def config_body(name: str) -> TlsConfiguration:
    return TlsConfiguration(
        data=TlsConfigurationData(
            type=TypeTlsConfiguration("tls_configuration"),
            attributes=TlsConfigurationDataAttributes(name=name),
        )
    )


def activation_body(
    cert_id: str | None = None,
    domain: str | None = None,
    config_id: str | None = None,
    mutual_authentication=_UNSET,
) -> TlsActivation:
    rels = {}
    if cert_id is not None:
        member = RelationshipMemberTlsCertificate._from_openapi_data(
            type=TypeTlsCertificate("tls_certificate"), id=cert_id
        )
        rels["tls_certificate"] = RelationshipTlsCertificateTlsCertificate(data=member)
    if config_id is not None:
        member = RelationshipMemberTlsConfiguration._from_openapi_data(
            type=TypeTlsConfiguration("tls_configuration"), id=config_id
        )
        rels["tls_configuration"] = RelationshipTlsConfigurationTlsConfiguration(data=member)
    if domain is not None:
        member = RelationshipMemberTlsDomain._from_openapi_data(
            type=TypeTlsDomain("tls_domain"), id=domain
        )
        rels["tls_domain"] = RelationshipTlsDomainTlsDomain(data=member)
    if mutual_authentication is not _UNSET:
        # Not in the client's model: passed as an extra property (docs/admin-api.md, "Client
        # quirks").
        rels["mutual_authentication"] = mutual_authentication
    return TlsActivation(
        data=TlsActivationData(
            type=TypeTlsActivation("tls_activation"),
            relationships=RelationshipsForTlsActivation(**rels),
        )
    )


def ma_member(ma_id: str) -> dict:
    return {"type": "mutual_authentication", "id": ma_id}


# -- reading responses ---------------------------------------------------------------------


def as_dict(resp):
    """Plain dicts/lists of a typed response (`to_dict()`, applied all the way down: the
    client leaves some nested relationship members as model objects); free-form responses
    (create_tls_cert) are already dicts."""
    if isinstance(resp, ModelSimple):
        return resp.value
    if hasattr(resp, "to_dict"):
        resp = resp.to_dict()
    if isinstance(resp, dict):
        return {k: as_dict(v) for k, v in resp.items()}
    if isinstance(resp, (list, tuple)):
        return [as_dict(v) for v in resp]
    return resp


def with_status(fn, *args, **kwargs):
    """Call a client method and return (data, http_status, headers)."""
    return fn(*args, _return_http_data_only=False, **kwargs)


def raw(fn, *args, **kwargs):
    """Call a client method without deserialising: the urllib3 response (wire checks)."""
    return fn(*args, _preload_content=False, **kwargs)


def api_error(fn, *args, **kwargs) -> ApiException:
    """Call a client method that must fail; return the client's exception."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        return e
    raise AssertionError(f"{fn.__name__} succeeded but an error response was expected")


def error_details(exc: ApiException) -> list[dict]:
    """The JSON:API `errors` array of an error response (asserting its shape)."""
    doc = json.loads(exc.body)
    errors = doc.get("errors")
    assert isinstance(errors, list) and errors, f"no JSON:API errors array: {exc.body!r}"
    for err in errors:
        assert isinstance(err.get("title"), str), err
        assert isinstance(err.get("detail"), str), err
    return errors


def error_text(exc: ApiException) -> str:
    return " ".join(f"{e['title']}: {e['detail']}" for e in error_details(exc))


def rel_ids(resource: dict, name: str) -> list[str]:
    """Ids of a to-many relationship, [] when absent."""
    data = ((resource.get("relationships") or {}).get(name) or {}).get("data") or []
    return [m["id"] for m in data]


def rel_id(resource: dict, name: str) -> str | None:
    """Id of a to-one relationship, None when absent or null."""
    data = ((resource.get("relationships") or {}).get(name) or {}).get("data")
    return None if data is None else data.get("id")
