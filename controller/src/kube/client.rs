//! The Kubernetes client: from an explicit kubeconfig, or from the environment the process
//! runs in. Its failure is the one start-up error of the Kubernetes mode, so it says which
//! configuration was tried.

use std::path::{Path, PathBuf};

use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// Why no Kubernetes client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig given cannot be read, or does not describe a usable cluster and user.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The kubeconfig given (`--kubeconfig`).
        path: PathBuf,
        /// What kube-rs found wrong with it.
        source: KubeconfigError,
    },
    /// Neither the in-cluster service account nor `$KUBECONFIG` / `~/.kube/config` works.
    #[error("no in-cluster configuration and no usable kubeconfig: {0}")]
    Infer(#[source] InferConfigError),
    /// The configuration was read but a client cannot be made of it (e.g. its TLS settings).
    #[error("cannot build a Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}

/// A client from `kubeconfig`, or else from the environment: in-cluster service account, or
/// `$KUBECONFIG` / `~/.kube/config`.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let invalid = |source| ClientError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            };
            let file = Kubeconfig::read_from(path).map_err(invalid)?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(invalid)?
        }
        None => Config::infer().await.map_err(ClientError::Infer)?,
    };
    Client::try_from(config).map_err(ClientError::Build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broken_kubeconfig_is_named() {
        let path = std::env::temp_dir().join(format!("pingress-kubeconfig-{}", std::process::id()));
        std::fs::write(&path, "clusters: [").unwrap();
        let Err(error) = client(Some(&path)).await else {
            panic!("a client from a broken kubeconfig");
        };
        assert!(matches!(error, ClientError::Kubeconfig { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("kubeconfig {}: ", path.display())),
            "{error}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
