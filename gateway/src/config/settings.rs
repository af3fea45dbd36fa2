//! Gateway-wide settings: the gateway's flags, overridden by what the configuration says (the
//! ingress-nginx ConfigMap, through the Snapshot's `Settings`). Compiled once per Generation
//! and shared by its route targets, so that a request reads them without a lookup and a
//! ConfigMap change applies on the next request after the swap.

use std::sync::Arc;

use http::HeaderValue;
use ipnet::IpNet;
use pingress_model::{Hsts, Settings};

use super::certs::CertifiedKey;
use crate::upstream::{HealthChecks, UpstreamDefaults};

/// The status of redirects to HTTPS unless configured (ingress-nginx's `http-redirect-code`).
const REDIRECT_CODE: u16 = 308;

/// The flags that a configuration's settings override.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--hsts`.
    pub hsts: Option<HeaderValue>,
    /// `--trusted-proxies`.
    pub trusted_proxies: Vec<IpNet>,
    /// `--allow-underscores-in-headers`.
    pub underscores_in_headers: bool,
}

/// The settings in effect for one Generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `Strict-Transport-Security` on HTTPS responses.
    pub hsts: Option<HeaderValue>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Forward request headers whose names contain `_`.
    pub underscores_in_headers: bool,
    /// The status of redirects to HTTPS and between hosts.
    pub redirect_code: u16,
}

impl GatewaySettings {
    /// The flags, with what `settings` sets in their place. A value that is not a header
    /// value (the translation validates them) is logged and the flag kept.
    pub fn compile(settings: &Settings, flags: &Flags) -> Self {
        let hsts = match &settings.hsts {
            None => flags.hsts.clone(),
            Some(Hsts::Off) => None,
            Some(Hsts::Header(value)) => match HeaderValue::from_str(value) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::error!(
                        ?value,
                        "the configuration's HSTS header is not a header value; keeping --hsts"
                    );
                    flags.hsts.clone()
                }
            },
        };
        let trusted_proxies = match &settings.trusted_proxies {
            None => flags.trusted_proxies.clone(),
            Some(cidrs) => cidrs
                .iter()
                .filter_map(|c| IpNet::new(c.addr, c.prefix).ok())
                .collect(),
        };
        GatewaySettings {
            hsts,
            trusted_proxies,
            underscores_in_headers: settings
                .underscores_in_headers
                .unwrap_or(flags.underscores_in_headers),
            redirect_code: settings.http_redirect_code.unwrap_or(REDIRECT_CODE),
        }
    }
}

/// What every generation compiles against: the gateway's start-up state.
pub struct Shared {
    /// The self-signed certificate, the default when the Snapshot names none.
    pub fallback: Arc<CertifiedKey>,
    /// The health checks shared by all generations.
    pub checks: HealthChecks,
    pub flags: Flags,
}

impl Shared {
    /// The start-up state: a freshly generated self-signed certificate, health checks with
    /// `defaults`, and the gateway's `flags`.
    pub fn new(
        defaults: UpstreamDefaults,
        flags: Flags,
    ) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Shared {
            fallback: Arc::new(CertifiedKey::self_signed()?),
            checks: HealthChecks::new(defaults),
            flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::Cidr;

    #[test]
    fn the_configuration_overrides_the_flags() {
        let flags = Flags {
            hsts: Some(HeaderValue::from_static("max-age=60")),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            underscores_in_headers: false,
        };
        let none = GatewaySettings::compile(&Settings::default(), &flags);
        assert_eq!(none.hsts, flags.hsts);
        assert_eq!(none.trusted_proxies, flags.trusted_proxies);
        assert_eq!(none.redirect_code, 308);
        let set = GatewaySettings::compile(
            &Settings {
                http_redirect_code: Some(301),
                hsts: Some(Hsts::Off),
                trusted_proxies: Some(vec![Cidr {
                    addr: "192.168.0.0".parse().unwrap(),
                    prefix: 16,
                }]),
                underscores_in_headers: Some(true),
            },
            &flags,
        );
        assert_eq!(set.hsts, None, "hsts: \"false\" switches --hsts off");
        assert_eq!(
            set.trusted_proxies,
            vec!["192.168.0.0/16".parse::<IpNet>().unwrap()]
        );
        assert!(set.underscores_in_headers);
        assert_eq!(set.redirect_code, 301);
    }
}
