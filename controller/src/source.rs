//! The one loop that turns a source of Kubernetes objects into published Snapshots.
//!
//! ```text
//! ready ─> objects ─> translate (now) ─> on_translation ─> publish
//!            ^                                               │
//!            └── drain <─ debounce <─ change | wake | resync <┘
//! ```
//!
//! Manifest files and the Kubernetes API differ in how they learn of a change, not in what
//! follows one; each implements [`Source`] and [`run_source`] does the rest, so that both read
//! every object in one consistent pass, translate with the same clock, and take a burst of
//! changes as one.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pingress_translate::{translate, Objects, Options, Translation};
use tokio::sync::Notify;

use crate::publisher::Publisher;

/// Where [`run_source`] reads objects, and how it learns that they changed.
pub trait Source {
    /// Waits until the source has a complete view, so that nothing partial is published.
    fn ready(&mut self) -> impl Future<Output = ()> + Send;

    /// Every object of the current configuration, read in one consistent pass.
    fn objects(&mut self) -> Objects;

    /// Waits for the next change; `false` once the source has ended and will not change again.
    fn changed(&mut self) -> impl Future<Output = bool> + Send;

    /// Forgets the changes already waiting: the next [`Source::objects`] reads them all.
    fn drain(&mut self);
}

/// What makes [`run_source`] translate again, besides a change of the source.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Quiet time after a change (or a wake-up, or a resync) before the objects are read, so
    /// that a burst of changes (an editor's save is several file events) is read once.
    pub debounce: Duration,
    /// Translate again after this long without a change (certificates expire, status written
    /// by the leader may have been edited). `None`: only on changes.
    pub resync: Option<Duration>,
    /// Translate again when notified (e.g. this process just became the leader and must write
    /// status). A notification that comes during a translation is kept for the next wait.
    pub wake: Option<Arc<Notify>>,
}

/// Runs `source` until it ends: once it is ready, translates its objects and publishes the
/// Snapshot, then again after each burst of changes and as `schedule` says. Every translation
/// uses the current time, and `on_translation` sees it, with the objects it read, before it is
/// published (the Kubernetes mode writes status and Events there). Each change counts in
/// `pingress_controller_source_events_total{result="event"}`.
pub async fn run_source(
    mut source: impl Source,
    options: Options,
    mut publisher: Publisher,
    schedule: Schedule,
    mut on_translation: impl FnMut(&Objects, &Translation),
) {
    source.ready().await;
    loop {
        let options = Options {
            now: Some(SystemTime::now()),
            ..options.clone()
        };
        let objects = source.objects();
        let translation = translate(&objects, &options);
        on_translation(&objects, &translation);
        publisher.publish(translation);
        tokio::select! {
            changed = source.changed() => {
                if !changed {
                    return;
                }
                publisher.metrics().source_events.inc();
            }
            () = notified(schedule.wake.as_deref()) => {}
            () = elapsed(schedule.resync) => {}
        }
        tokio::time::sleep(schedule.debounce).await;
        source.drain();
    }
}

/// Completes when `wake` is notified; never without one.
async fn notified(wake: Option<&Notify>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}

/// Completes after `resync`; never without one.
async fn elapsed(resync: Option<Duration>) {
    match resync {
        Some(resync) => tokio::time::sleep(resync).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ControllerMetrics;
    use crate::publisher::config_channel;
    use tokio::sync::mpsc;

    /// A source whose changes the test sends, and which is ready when the test says so.
    struct Fake {
        ready: Arc<Notify>,
        changes: mpsc::UnboundedReceiver<()>,
    }

    impl Source for Fake {
        async fn ready(&mut self) {
            self.ready.notified().await;
        }

        fn objects(&mut self) -> Objects {
            Objects::default()
        }

        async fn changed(&mut self) -> bool {
            self.changes.recv().await.is_some()
        }

        fn drain(&mut self) {
            while self.changes.try_recv().is_ok() {}
        }
    }

    struct Run {
        changes: mpsc::UnboundedSender<()>,
        ready: Arc<Notify>,
        translations: mpsc::UnboundedReceiver<()>,
        metrics: ControllerMetrics,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(schedule: Schedule) -> Run {
        let (changes, rx) = mpsc::unbounded_channel();
        let ready = Arc::new(Notify::new());
        let source = Fake {
            ready: ready.clone(),
            changes: rx,
        };
        let metrics = ControllerMetrics::new(&prometheus::Registry::new());
        let (publisher, _snapshots) = config_channel(metrics.clone());
        let (translated, translations) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_source(
            source,
            Options::default(),
            publisher,
            schedule,
            move |_, _| {
                let _ = translated.send(());
            },
        ));
        Run {
            changes,
            ready,
            translations,
            metrics,
            task,
        }
    }

    impl Run {
        /// Whether a translation comes within `within`.
        async fn translated(&mut self, within: Duration) -> bool {
            tokio::time::timeout(within, self.translations.recv())
                .await
                .is_ok()
        }
    }

    const SOON: Duration = Duration::from_secs(5);
    const QUIET: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn nothing_is_translated_before_the_source_is_ready() {
        let mut run = start(Schedule::default());
        assert!(!run.translated(QUIET).await);
        run.ready.notify_one();
        assert!(run.translated(SOON).await);
        run.task.abort();
    }

    #[tokio::test]
    async fn a_burst_of_changes_is_translated_once_and_an_ended_source_ends_the_loop() {
        let mut run = start(Schedule {
            debounce: Duration::from_millis(20),
            ..Schedule::default()
        });
        run.ready.notify_one();
        assert!(run.translated(SOON).await, "the first translation");
        for _ in 0..3 {
            run.changes.send(()).unwrap();
        }
        assert!(run.translated(SOON).await, "the burst");
        assert!(!run.translated(QUIET).await, "one translation per burst");
        assert_eq!(run.metrics.source_events.get(), 1);
        drop(run.changes);
        tokio::time::timeout(SOON, run.task)
            .await
            .expect("the loop ends with its source")
            .unwrap();
    }

    #[tokio::test]
    async fn a_wake_up_or_a_resync_translates_again_without_a_change() {
        let wake = Arc::new(Notify::new());
        let mut run = start(Schedule {
            wake: Some(wake.clone()),
            ..Schedule::default()
        });
        run.ready.notify_one();
        assert!(run.translated(SOON).await);
        assert!(!run.translated(QUIET).await, "no resync unless asked");
        wake.notify_one();
        assert!(run.translated(SOON).await, "woken");
        run.task.abort();

        let mut run = start(Schedule {
            resync: Some(Duration::from_millis(20)),
            ..Schedule::default()
        });
        run.ready.notify_one();
        for _ in 0..3 {
            assert!(run.translated(SOON).await, "resynced");
        }
        assert_eq!(run.metrics.source_events.get(), 0, "resyncs are no events");
        run.task.abort();
    }
}
