//! A route's filters, compiled once per Generation and run by the proxy in the phase that
//! owns each: request header changes before the request goes upstream, response header changes
//! before the response goes to the client.
//!
//! A route without filters pays one emptiness check per phase. The model's filters are
//! validated by the translation; compiling them here turns names and values into the header
//! types once, so the request path never parses a string from the configuration.

mod headers;

use pingora::http::{RequestHeader, ResponseHeader};
use pingress_model::Filter;

pub use headers::{HeaderEdits, InvalidHeader};

/// The compiled filters of one route, by phase, each phase's in model order.
#[derive(Debug, Default)]
pub struct Filters {
    request_headers: Box<[HeaderEdits]>,
    response_headers: Box<[HeaderEdits]>,
}

impl Filters {
    /// Compiles a route's filter list.
    pub fn compile(filters: &[Filter]) -> Result<Self, InvalidHeader> {
        let mut request_headers = Vec::new();
        let mut response_headers = Vec::new();
        for filter in filters {
            match filter {
                Filter::RequestHeaders(changes) => {
                    request_headers.push(HeaderEdits::compile(changes)?)
                }
                Filter::ResponseHeaders(changes) => {
                    response_headers.push(HeaderEdits::compile(changes)?)
                }
            }
        }
        Ok(Filters {
            request_headers: request_headers.into(),
            response_headers: response_headers.into(),
        })
    }

    /// Edits the request about to be sent upstream.
    pub fn upstream_request(&self, request: &mut RequestHeader) -> pingora::Result<()> {
        for edits in &self.request_headers {
            edits.apply(request)?;
        }
        Ok(())
    }

    /// Edits the response about to be sent to the client.
    pub fn response(&self, response: &mut ResponseHeader) -> pingora::Result<()> {
        for edits in &self.response_headers {
            edits.apply(response)?;
        }
        Ok(())
    }
}
