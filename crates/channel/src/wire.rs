//! What travels on the config channel, and how a gateway decides to take it.
//!
//! Frames are a 4-byte big-endian length and a JSON body ([`LengthDelimitedCodec`]), the same
//! bytes on the wire as the hand-written framing that came before it. The controller sends
//! Snapshots; the gateway answers each with an [`Ack`].
//!
//! During a rolling upgrade the controller and the gateway containers of a pod may run
//! different Pingress versions. A Snapshot is therefore decoded in two steps: first only its
//! header, `{"schema": N, "generation": G}` (serde skips everything else), then the whole
//! Snapshot, and only if N is this program's [`SCHEMA_VERSION`]. A Snapshot of another schema
//! would at best fail to decode and at worst decode into a different meaning; it is refused
//! instead, and the gateway keeps serving its last good configuration.

use pingress_model::{Snapshot, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame accepted, and sent (a Snapshot of tens of thousands of Ingresses is far
/// smaller).
pub const MAX_FRAME: usize = 512 * 1024 * 1024;

/// A Unix stream carrying length-delimited frames.
pub type FramedStream = Framed<UnixStream, LengthDelimitedCodec>;

/// Frames `stream`: a 4-byte big-endian length, then the body; a frame announcing more than
/// [`MAX_FRAME`] bytes is an error (of kind `InvalidData`) on either side.
pub fn framed(stream: UnixStream) -> FramedStream {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .new_framed(stream)
}

/// The part of a Snapshot read before the rest: enough to decide whether to read the rest.
#[derive(Debug, Deserialize)]
struct Header {
    /// Snapshots from before the schema was versioned carry no `schema`: they are schema 1.
    #[serde(default = "first_schema")]
    schema: u32,
    #[serde(default)]
    generation: u64,
}

fn first_schema() -> u32 {
    1
}

/// Why a gateway does not take a Snapshot.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The Snapshot was made by a Pingress of another schema.
    #[error("generation {generation} has schema {found}, this gateway reads schema {expected}")]
    Schema {
        /// The schema the Snapshot names.
        found: u32,
        /// [`SCHEMA_VERSION`] of this program.
        expected: u32,
        /// The generation the Snapshot names.
        generation: u64,
    },
    /// The body is not a Snapshot of this schema (truncated, corrupted, or a bug).
    #[error("not a readable Snapshot of schema {SCHEMA_VERSION}: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Decodes a Snapshot body, refusing one of another schema without reading past its header.
pub fn decode(body: &[u8]) -> Result<Snapshot, Refusal> {
    let header: Header = serde_json::from_slice(body)?;
    if header.schema != SCHEMA_VERSION {
        return Err(Refusal::Schema {
            found: header.schema,
            expected: SCHEMA_VERSION,
            generation: header.generation,
        });
    }
    Ok(serde_json::from_slice(body)?)
}

/// The gateway's answer to each Snapshot: `{"generation":N}` when it took it,
/// `{"generation":N,"refused":"why"}` when it did not. `generation` is always the one the
/// gateway serves after this Snapshot (on a refusal, the one it kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The generation the gateway serves now.
    pub generation: u64,
    /// Why the Snapshot was refused; absent when it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn frames_are_a_big_endian_length_and_the_body() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut a = framed(a);
        a.send(bytes::Bytes::from_static(b"hello")).await.unwrap();
        let mut raw = [0u8; 9];
        b.read_exact(&mut raw).await.unwrap();
        assert_eq!(&raw, b"\0\0\0\x05hello");

        b.write_all(b"\0\0\0\x02{}").await.unwrap();
        assert_eq!(&a.next().await.unwrap().unwrap()[..], b"{}");
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut a = framed(a);
        let len = u32::try_from(MAX_FRAME + 1).unwrap();
        b.write_all(&len.to_be_bytes()).await.unwrap();
        let error = a.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_snapshot_of_another_schema_is_refused_by_its_header() {
        let next = SCHEMA_VERSION + 1;
        // A newer schema may change anything after the header: this body is no Snapshot.
        let body = format!(r#"{{"schema":{next},"generation":7,"routes":{{"new":"shape"}}}}"#);
        match decode(body.as_bytes()) {
            Err(Refusal::Schema {
                found,
                expected,
                generation: 7,
            }) => assert_eq!((found, expected), (next, SCHEMA_VERSION)),
            other => panic!("{other:?}"),
        }
        let unversioned = br#"{"generation":3,"virtual_hosts":[]}"#;
        assert!(matches!(
            decode(unversioned),
            Err(Refusal::Schema { found: 1, .. })
        ));
    }

    #[test]
    fn a_snapshot_of_this_schema_decodes_and_a_broken_one_is_malformed() {
        let snapshot = Snapshot {
            generation: 4,
            ..Snapshot::default()
        };
        let body = serde_json::to_vec(&snapshot).unwrap();
        assert_eq!(decode(&body).unwrap(), snapshot);
        let broken = format!(r#"{{"schema":{SCHEMA_VERSION},"generation":5}}"#);
        assert!(matches!(
            decode(broken.as_bytes()),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn acks_say_refused_only_when_refused() {
        let taken = Ack {
            generation: 3,
            refused: None,
        };
        assert_eq!(
            serde_json::to_string(&taken).unwrap(),
            r#"{"generation":3}"#
        );
        let refused: Ack = serde_json::from_str(r#"{"generation":3,"refused":"why"}"#).unwrap();
        assert_eq!(refused.refused.as_deref(), Some("why"));
    }
}
