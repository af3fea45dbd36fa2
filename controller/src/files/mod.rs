//! The manifest-file source: Kubernetes YAML on disk, watched for changes.
//!
//! Every change (any file event in a watched directory but a mere read) is debounced, then the
//! whole set of files is read again and translated into one complete Snapshot
//! ([`crate::source::run_source`]). A file that fails to read or parse keeps its last good
//! objects serving, and the error is logged with the file, the document, the object and the
//! field; a file removed from a watched directory takes its objects with it.

pub mod manifests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use pingress_translate::{Objects, Options};
use prometheus::IntCounter;
use tokio::sync::mpsc;

use crate::publisher::Publisher;
use crate::source::{run_source, Schedule, Source};
use manifests::{files_of, load_file, Object};

/// Why the manifest files cannot be watched (the process cannot follow their changes).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No file watcher (e.g. the inotify instance limit is reached).
    #[error("cannot watch the manifest files: {0}")]
    Start(#[source] notify::Error),
    /// A directory holding manifests cannot be watched.
    #[error("cannot watch {dir} for manifest changes: {source}")]
    Dir {
        /// The directory: a `--manifests` directory, or the one holding a `--manifests` file.
        dir: PathBuf,
        /// What the watcher said.
        source: notify::Error,
    },
}

/// Watches `paths` (files, or directories of `*.yaml`/`*.yml` files) and publishes their
/// objects until the process ends: the initial configuration, then a new one after each
/// burst of file changes (quiet for `debounce`).
pub async fn run_manifests(
    paths: Vec<PathBuf>,
    options: Options,
    publisher: Publisher,
    debounce: Duration,
) -> Result<(), WatchError> {
    let errors = publisher.metrics().source_errors.clone();
    let source = ManifestSource::watch(paths, errors)?;
    let schedule = Schedule {
        debounce,
        ..Schedule::default()
    };
    run_source(source, options, publisher, schedule, |_, _| {}).await;
    Ok(())
}

/// The manifest files and a watcher of the directories that hold them.
pub struct ManifestSource {
    files: ManifestFiles,
    /// One message per file event that may have changed something.
    changes: mpsc::UnboundedReceiver<()>,
    /// Kept for its side effect: dropping it stops the events.
    _watcher: RecommendedWatcher,
}

impl ManifestSource {
    /// Starts watching the directories of `paths`. Files that cannot be read or parsed count
    /// in `errors`, once per appearance.
    pub fn watch(paths: Vec<PathBuf>, errors: IntCounter) -> Result<Self, WatchError> {
        let files = ManifestFiles::new(paths, errors);
        let (tx, changes) = mpsc::unbounded_channel();
        let on_event = move |event: notify::Result<notify::Event>| match event {
            // Opening and reading a file (our own reload among them) changes nothing.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.send(());
            }
            Err(e) => tracing::warn!("file watch error: {e}"),
        };
        let mut watcher = notify::recommended_watcher(on_event).map_err(WatchError::Start)?;
        for dir in files.watch_dirs() {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Dir {
                    dir: dir.clone(),
                    source,
                })?;
            tracing::info!(dir = %dir.display(), "watching manifests");
        }
        Ok(ManifestSource {
            files,
            changes,
            _watcher: watcher,
        })
    }
}

impl Source for ManifestSource {
    /// Files are read whole at each [`Source::objects`]: ready from the start.
    async fn ready(&mut self) {}

    fn objects(&mut self) -> Objects {
        self.files.load()
    }

    async fn changed(&mut self) -> bool {
        self.changes.recv().await.is_some()
    }

    fn drain(&mut self) {
        while self.changes.try_recv().is_ok() {}
    }
}

/// The manifest paths and the last good objects of each file.
struct ManifestFiles {
    paths: Vec<PathBuf>,
    last_good: BTreeMap<PathBuf, Vec<Object>>,
    /// Errors already logged, so a file that stays broken is not reported on every event.
    reported: BTreeSet<String>,
    /// Counts each error when it is first reported.
    errors: IntCounter,
}

impl ManifestFiles {
    fn new(paths: Vec<PathBuf>, errors: IntCounter) -> Self {
        ManifestFiles {
            paths,
            last_good: BTreeMap::new(),
            reported: BTreeSet::new(),
            errors,
        }
    }

    /// Reads every file again and returns the objects of the current configuration.
    fn load(&mut self) -> Objects {
        let mut current = BTreeMap::new();
        let mut errors = BTreeSet::new();
        for path in &self.paths {
            let files = match files_of(path) {
                Ok(files) => files,
                Err(e) => {
                    errors.insert(format!(
                        "{}: {e}; keeping its last good objects",
                        path.display()
                    ));
                    self.last_good
                        .keys()
                        .filter(|f| f.starts_with(path))
                        .cloned()
                        .collect()
                }
            };
            for file in files {
                match load_file(&file) {
                    Ok(objects) => {
                        current.insert(file, objects);
                    }
                    Err(e) => {
                        errors.insert(format!("{e}; keeping this file's last good objects"));
                        if let Some(previous) = self.last_good.get(&file) {
                            current.insert(file, previous.clone());
                        }
                    }
                }
            }
        }
        for e in errors.difference(&self.reported) {
            tracing::error!("{e}");
            self.errors.inc();
        }
        self.reported = errors;
        self.last_good = current;
        objects_of(&self.last_good)
    }

    /// The directories to watch: each directory path, and each file path's parent (editors
    /// often save by writing a new file and renaming it over the old one).
    fn watch_dirs(&self) -> BTreeSet<PathBuf> {
        self.paths
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.clone()
                } else {
                    match p.parent() {
                        Some(parent) if parent != Path::new("") => parent.to_path_buf(),
                        _ => PathBuf::from("."),
                    }
                }
            })
            .collect()
    }
}

/// Flattens the files' objects in path order. The first definition of an object wins; later
/// duplicates are reported.
fn objects_of(files: &BTreeMap<PathBuf, Vec<Object>>) -> Objects {
    let mut seen: BTreeMap<_, &Path> = BTreeMap::new();
    let mut objects = Objects::default();
    for (file, list) in files {
        for object in list {
            let key = object.key();
            if let Some(first) = seen.get(&key) {
                tracing::warn!(
                    "{}: {} {}/{} is also defined in {}; using the first definition",
                    file.display(),
                    key.0,
                    key.1,
                    key.2,
                    first.display()
                );
                continue;
            }
            seen.insert(key, file.as_path());
            match object.clone() {
                Object::Ingress(o) => objects.ingresses.push(*o),
                Object::IngressClass(o) => objects.ingress_classes.push(*o),
                Object::Service(o) => objects.services.push(*o),
                Object::EndpointSlice(o) => objects.endpoint_slices.push(*o),
                Object::Secret(o) => objects.secrets.push(*o),
                Object::ConfigMap(o) => objects.config_maps.push(*o),
            }
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n";

    fn errors() -> IntCounter {
        IntCounter::new("errors", "source errors").unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pingress-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn broken_file_keeps_its_last_good_objects_and_removed_file_drops_them() {
        let dir = temp_dir("source");
        let file = dir.join("a.yaml");
        std::fs::write(&file, SERVICE).unwrap();
        std::fs::write(dir.join("notes.txt"), "not yaml: [").unwrap();
        let errors = errors();
        let mut source = ManifestFiles::new(vec![dir.clone()], errors.clone());
        assert_eq!(source.load().services.len(), 1);

        std::fs::write(&file, "apiVersion: v1\nkind: Service\nspec: [").unwrap();
        assert_eq!(source.load().services.len(), 1, "last good kept");
        assert_eq!(source.load().services.len(), 1, "still");
        assert_eq!(errors.get(), 1, "an error counts once while it lasts");

        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            source.load().services.len(),
            0,
            "removed file drops its objects"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn duplicate_objects_keep_the_first_file() {
        let dir = temp_dir("dupes");
        std::fs::write(dir.join("a.yaml"), SERVICE).unwrap();
        std::fs::write(dir.join("b.yml"), SERVICE.replace("80", "81")).unwrap();
        let objects = ManifestFiles::new(vec![dir.clone()], errors()).load();
        assert_eq!(objects.services.len(), 1);
        let port = &objects.services[0]
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()[0];
        assert_eq!(port.port, 80);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn reading_the_files_is_no_change_and_writing_one_is() {
        let dir = temp_dir("watch");
        std::fs::write(dir.join("a.yaml"), SERVICE).unwrap();
        let mut source = ManifestSource::watch(vec![dir.clone()], errors()).unwrap();
        let quiet = Duration::from_millis(300);
        assert_eq!(source.objects().services.len(), 1);
        assert!(
            tokio::time::timeout(quiet, source.changed()).await.is_err(),
            "our own reads are not events"
        );
        std::fs::write(dir.join("b.yaml"), SERVICE.replace("web", "shop")).unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(5), source.changed()).await;
        assert_eq!(changed, Ok(true));
        tokio::time::sleep(quiet).await;
        source.drain();
        assert_eq!(source.objects().services.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
