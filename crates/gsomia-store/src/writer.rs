//! What the backends' writers share: one thread per store takes the batches submitted, in
//! groups of up to [`GROUP`], and commits each group as one transaction; the queue, its
//! closing, and the counters the node's metrics read.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::{CommitStats, StoreError};

/// The most batches committed in one transaction.
pub const GROUP: usize = 512;

/// The writer's counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    commits: std::sync::atomic::AtomicU64,
    batches: std::sync::atomic::AtomicU64,
    micros: std::sync::atomic::AtomicU64,
}

impl Stats {
    /// A group of `batches` committed, begun at `started`.
    pub(crate) fn committed(&self, batches: usize, started: Instant) {
        use std::sync::atomic::Ordering::Relaxed;
        self.commits.fetch_add(1, Relaxed);
        self.batches.fetch_add(batches as u64, Relaxed);
        self.micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
    }
}

/// A job the writer answers: its batch's result goes to whoever submitted it.
pub(crate) trait Answer {
    /// Gives the result to the submitter.
    fn answer(self, result: Result<crate::Committed, StoreError>);
}

/// Answers each job of a committed group with its own result.
pub(crate) fn answer<J: Answer>(group: Vec<J>, results: Vec<Result<crate::Committed, StoreError>>) {
    for (job, r) in group.into_iter().zip(results) {
        job.answer(r);
    }
}

/// Answers every job of a group whose transaction failed as a whole: nothing was stored.
pub(crate) fn fail<J: Answer>(group: Vec<J>, error: &StoreError) {
    for job in group {
        job.answer(Err(error.clone()));
    }
}

/// The next group: `first`, then every job already waiting, up to [`GROUP`].
pub(crate) fn group<J>(jobs: &Receiver<J>, first: J) -> Vec<J> {
    let mut group = vec![first];
    while group.len() < GROUP {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    group
}

/// A store's writer thread and the queue to it.
pub(crate) struct Writer<J> {
    jobs: Mutex<Option<Sender<J>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Stats>,
}

impl<J: Send + 'static> Writer<J> {
    /// Starts the thread `run`, which takes the jobs until the queue is closed.
    pub(crate) fn start(
        run: impl FnOnce(Receiver<J>, &Stats) + Send + 'static,
    ) -> Result<Writer<J>, StoreError> {
        let (tx, rx) = channel::<J>();
        let stats = Arc::new(Stats::default());
        let counted = stats.clone();
        let thread = std::thread::Builder::new()
            .name("gsomia-store-writer".into())
            .spawn(move || run(rx, &counted))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Writer {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// Queues `job`; gives it back if the store is closed.
    pub(crate) fn send(&self, job: J) -> Result<(), J> {
        let sender = self.jobs.lock().ok().and_then(|j| j.clone());
        match sender {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Whether jobs are taken (the store has not been closed).
    pub(crate) fn is_open(&self) -> bool {
        self.jobs.lock().is_ok_and(|j| j.is_some())
    }

    /// What has been committed since the store was opened.
    pub(crate) fn stats(&self) -> CommitStats {
        use std::sync::atomic::Ordering::Relaxed;
        CommitStats {
            commits: self.stats.commits.load(Relaxed),
            batches: self.stats.batches.load(Relaxed),
            seconds: self.stats.micros.load(Relaxed) as f64 / 1e6,
        }
    }

    /// Closes the queue and waits for the thread to commit what it holds.
    pub(crate) fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut t) = self.thread.lock()
            && let Some(handle) = t.take()
        {
            let _ = handle.join();
        }
    }
}
