//! Fuzzes the manifest loader, `pingress_controller::manifests::parse`: multi-document YAML, as
//! read from the files given to `--manifests`, into Kubernetes objects.
//!
//! Checks:
//! - it never panics (nor overflows its stack) on any text;
//! - an error names a document that exists: 1-based, and no later than the number of
//!   documents the text could hold (one per `---` or `...` line, plus the first, plus one
//!   for stray text after the last);
//! - the objects it returns translate (`pingress_translate::translate`) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pingress_controller::manifests::{parse, Object};
use pingress_translate::{translate, Objects, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(list) => {
            let mut objects = Objects::default();
            for object in list {
                match object {
                    Object::Ingress(o) => objects.ingresses.push(*o),
                    Object::IngressClass(o) => objects.ingress_classes.push(*o),
                    Object::Service(o) => objects.services.push(*o),
                    Object::EndpointSlice(o) => objects.endpoint_slices.push(*o),
                    Object::Secret(o) => objects.secrets.push(*o),
                    Object::ConfigMap(o) => objects.config_maps.push(*o),
                }
            }
            translate(&objects, &Options::default());
        }
        Err((document, message)) => {
            // Every document but the first starts at a line beginning with `---`, or after
            // one beginning with `...` (the end of the one before). Text after a complete
            // document that starts no new one is reported as the next document.
            let separators = text
                .split(['\n', '\r'])
                .filter(|l| l.starts_with("---") || l.starts_with("..."))
                .count();
            let most = separators + 2;
            assert!(
                (1..=most).contains(&document),
                "error in document {document} of {most} at most: {message}"
            );
        }
    }
});
