//! Names of Kubernetes objects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `namespace/name` of a Kubernetes object. Serialized as that string, so it can key a map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// A string that is not `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected NAMESPACE/NAME")]
pub struct ParseObjectRefError(pub String);

/// The one `NAMESPACE/NAME` grammar of the project (flags, annotations, serialized
/// Snapshots): both parts non-empty, exactly one `/`.
impl FromStr for ObjectRef {
    type Err = ParseObjectRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(ObjectRef::new(namespace, name))
            }
            _ => Err(ParseObjectRefError(s.to_string())),
        }
    }
}

impl From<ObjectRef> for String {
    fn from(object: ObjectRef) -> String {
        object.to_string()
    }
}

impl TryFrom<String> for ObjectRef {
    type Error = ParseObjectRefError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
