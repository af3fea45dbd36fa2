//! The manifest-file source: Kubernetes YAML on disk, watched for changes.
//!
//! Every change (any file event in a watched directory) is debounced, then the whole set of
//! files is read again and translated into one complete Snapshot. A file that fails to read or
//! parse keeps its last good objects serving, and the error is logged with the file, the
//! document, the object and the field; a file removed from a watched directory takes its
//! objects with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use pingress_translate::{translate, Objects, Options};
use tokio::sync::mpsc;

use crate::manifests::{files_of, load_file, Object};
use crate::Publisher;

/// The manifest paths and the last good objects of each file.
pub struct ManifestSource {
    paths: Vec<PathBuf>,
    last_good: BTreeMap<PathBuf, Vec<Object>>,
    /// Errors already logged, so a file that stays broken is not reported on every event.
    reported: BTreeSet<String>,
    /// Errors that the last [`ManifestSource::load`] reported for the first time.
    new_errors: usize,
}

impl ManifestSource {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        ManifestSource {
            paths,
            last_good: BTreeMap::new(),
            reported: BTreeSet::new(),
            new_errors: 0,
        }
    }

    /// Reads every file again and returns the objects of the current configuration.
    pub fn load(&mut self) -> Objects {
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
        self.new_errors = 0;
        for e in errors.difference(&self.reported) {
            tracing::error!("{e}");
            self.new_errors += 1;
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
            }
        }
    }
    objects
}

/// Runs the manifest source until the process ends: publishes the initial configuration, then
/// a new one after each burst of file changes (quiet for `debounce`).
pub async fn run_manifest_source(
    mut source: ManifestSource,
    options: Options,
    mut publisher: Publisher,
    debounce: Duration,
) -> notify::Result<()> {
    let (tx, mut changes) = mpsc::unbounded_channel();
    let on_event = move |event: notify::Result<notify::Event>| match event {
        // Opening and reading a file (our own reload among them) changes nothing.
        Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
        Ok(_) => {
            let _ = tx.send(());
        }
        Err(e) => tracing::warn!("file watch error: {e}"),
    };
    let mut watcher = notify::recommended_watcher(on_event)?;
    for dir in source.watch_dirs() {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching manifests");
    }

    loop {
        let options = Options {
            now: Some(SystemTime::now()),
            ..options.clone()
        };
        let objects = source.load();
        let metrics = publisher.metrics();
        metrics.source_errors.inc_by(source.new_errors as u64);
        publisher.publish(translate(&objects, &options));
        if changes.recv().await.is_none() {
            return Ok(());
        }
        publisher.metrics().source_events.inc();
        // Let the burst settle (an editor's save is several events), then take it all at once.
        tokio::time::sleep(debounce).await;
        while changes.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n";

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
        let mut source = ManifestSource::new(vec![dir.clone()]);
        assert_eq!(source.load().services.len(), 1);

        std::fs::write(&file, "apiVersion: v1\nkind: Service\nspec: [").unwrap();
        assert_eq!(source.load().services.len(), 1, "last good kept");

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
        let objects = ManifestSource::new(vec![dir.clone()]).load();
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
}
