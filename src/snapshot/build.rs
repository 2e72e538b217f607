//! Builds a `Snapshot` from the stored state and the static routes. Resources shared between
//! domains (client verifiers, server configs) are built once per build and shared.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::ServerConfig;

use super::entry::{DomainEntry, Snapshot};
use super::lookup::DomainTable;
use super::server_config::{build_server_config, TlsParams, TlsVersion};
use super::verifier::ClientAuth;
use crate::model::{pki, Activation, State};
use crate::origin::OriginSpec;

/// Why a snapshot could not be built; names the resource at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{resource}: {problem}")]
pub struct BuildError {
    pub resource: String,
    pub problem: String,
}

fn err(resource: impl Into<String>, problem: impl std::fmt::Display) -> BuildError {
    BuildError {
        resource: resource.into(),
        problem: problem.to_string(),
    }
}

/// Static inputs of a build that do not live in the store.
#[derive(Debug, Clone, Default)]
pub struct BuildInputs {
    /// `[[routes]]` as (domain, origin).
    pub routes: Vec<(String, OriginSpec)>,
    /// `[proxy] default_origin`.
    pub default_origin: OriginSpec,
    /// `[proxy] default_domain`: an activated domain whose certificate serves handshakes
    /// without a known SNI.
    pub default_domain: Option<String>,
}

/// Build a snapshot. Fails on the first resource that cannot be served.
pub fn build(state: &State, inputs: &BuildInputs) -> Result<Snapshot, BuildError> {
    let mut builder = Builder {
        state,
        auths: HashMap::new(),
        configs: HashMap::new(),
    };
    let mut domains = DomainTable::new();
    for a in &state.activations {
        let entry = builder.entry(a)?;
        domains.insert(&a.domain, Arc::new(entry));
    }
    let fallback = match &inputs.default_domain {
        Some(name) => builder.fallback(name)?.map(Arc::new),
        None => None,
    };
    let mut routes = DomainTable::new();
    for (domain, origin) in &inputs.routes {
        routes.insert(domain, Arc::new(origin.clone()));
    }
    Ok(Snapshot {
        revision: state.revision,
        domains,
        fallback,
        routes,
        default_origin: Arc::new(inputs.default_origin.clone()),
    })
}

type ConfigKey = (String, String, Option<String>);

struct Builder<'a> {
    state: &'a State,
    auths: HashMap<String, Arc<ClientAuth>>,
    configs: HashMap<ConfigKey, Arc<ServerConfig>>,
}

impl Builder<'_> {
    fn entry(&mut self, a: &Activation) -> Result<DomainEntry, BuildError> {
        let ma = a.mutual_authentication_id.clone();
        let client_auth = match &ma {
            Some(id) => Some(self.client_auth(id)?),
            None => None,
        };
        let key = (
            a.certificate_id.clone(),
            a.configuration_id.clone(),
            ma.clone(),
        );
        let server_config = match self.configs.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = self.server_config(a, client_auth.as_deref())?;
                self.configs.insert(key, c.clone());
                c
            }
        };
        Ok(DomainEntry {
            name: a.domain.clone(),
            server_config,
            client_auth,
            mutual_authentication_id: ma.map(Arc::from),
        })
    }

    /// The entry for connections without a known SNI: the default domain's certificate, never
    /// with client authentication (DESIGN rule 1: no SNI never reaches an mTLS domain).
    ///
    /// None while the default domain is not activated: such handshakes are then refused with
    /// `unrecognized_name`, as without a default domain. Failing the build instead would make
    /// an empty store unservable and refuse every API change — including the upload and
    /// activation that would make the default domain exist.
    fn fallback(&mut self, name: &str) -> Result<Option<DomainEntry>, BuildError> {
        let what = format!("proxy.default_domain {name:?}");
        let canonical = pki::canonical_domain(name).map_err(|e| err(&what, e))?;
        let Some(a) = self
            .state
            .activations
            .iter()
            .find(|a| a.domain == canonical)
        else {
            tracing::warn!(domain = %canonical, "proxy.default_domain is not activated; handshakes without a known SNI are refused");
            return Ok(None);
        };
        Ok(Some(DomainEntry {
            name: a.domain.clone(),
            server_config: self.server_config(a, None)?,
            client_auth: None,
            mutual_authentication_id: None,
        }))
    }

    fn client_auth(&mut self, id: &str) -> Result<Arc<ClientAuth>, BuildError> {
        if let Some(c) = self.auths.get(id) {
            return Ok(c.clone());
        }
        let what = format!("mutual authentication {id}");
        let ma = self
            .state
            .mutual_authentication(id)
            .ok_or_else(|| err(&what, "does not exist"))?;
        let bundle = pki::parse_ca_bundle(&ma.cert_bundle).map_err(|e| err(&what, e))?;
        let auth = ClientAuth::new(&bundle.certs_der, ma.enforced).map_err(|e| err(&what, e))?;
        let auth = Arc::new(auth);
        self.auths.insert(id.to_string(), auth.clone());
        Ok(auth)
    }

    fn server_config(
        &self,
        a: &Activation,
        client_auth: Option<&ClientAuth>,
    ) -> Result<Arc<ServerConfig>, BuildError> {
        let what = format!("TLS activation {} ({})", a.id, a.domain);
        let cert = self
            .state
            .certificate(&a.certificate_id)
            .ok_or_else(|| err(&what, "its certificate does not exist"))?;
        let key = self
            .state
            .key_for(cert)
            .ok_or_else(|| err(&what, "no private key matches its certificate"))?;
        let chain = pki::parse_certificate_chain(&cert.cert_blob)
            .map_err(|e| err(format!("TLS certificate {}", cert.id), e))?;
        let key = pki::parse_private_key(&key.key_pem)
            .map_err(|e| err(format!("private key {}", key.id), e))?;
        let conf = self
            .state
            .configuration(&a.configuration_id)
            .ok_or_else(|| err(&what, "its configuration does not exist"))?;
        let params = tls_params(&conf.tls_protocols, &conf.http_protocols);
        build_server_config(&chain.chain_der, &key.pkcs8_der, &params, client_auth)
            .map_err(|e| err(&what, e))
    }
}

/// Protocol lists of a configuration as rustls parameters; h2 is preferred when offered.
pub fn tls_params(tls: &[String], http: &[String]) -> TlsParams {
    let mut versions = Vec::new();
    if tls.iter().any(|v| v == "1.3") {
        versions.push(TlsVersion::Tls13);
    }
    if tls.iter().any(|v| v == "1.2") {
        versions.push(TlsVersion::Tls12);
    }
    let mut alpn = Vec::new();
    if http.iter().any(|p| p == "http/2") {
        alpn.push(b"h2".to_vec());
    }
    if http.iter().any(|p| p == "http/1.1") {
        alpn.push(b"http/1.1".to_vec());
    }
    TlsParams { versions, alpn }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_domain_not_yet_activated_builds_without_fallback() {
        let inputs = BuildInputs {
            default_domain: Some("later.example.com".to_string()),
            ..BuildInputs::default()
        };
        let snapshot = build(&State::default(), &inputs).unwrap();
        assert!(snapshot.fallback.is_none());
        assert!(snapshot.domains.is_empty());
    }

    #[test]
    fn invalid_default_domain_is_still_an_error() {
        let inputs = BuildInputs {
            default_domain: Some("not a name".to_string()),
            ..BuildInputs::default()
        };
        let e = build(&State::default(), &inputs).unwrap_err();
        assert!(e.resource.contains("default_domain"), "{e}");
    }
}
