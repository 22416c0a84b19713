//! Changer-side strategies that wait for walkers directly: the IPI family,
//! the counter handshake, and the `percpu` flags. (`rcu` is in
//! [`crate::rcu`].)

use crate::events::Ev;
use crate::platform::Deadline;
use crate::sync::Ordering;
use crate::words::{WalkerWords, Word};
use crate::{counter, Barrier, Counter, CpuMask, MmSync, Platform, Registry, SerializeStats, SyncError};

impl<const CPUS: usize, const SLOTS: usize> Registry<CPUS, SLOTS> {
    /// `ipi`/`ipi-nowait`: IPI the online CPUs of `mm_cpumask` but this one.
    pub(crate) fn ipi_mm_cpumask<P: Platform>(
        &self,
        mm: &MmSync,
        mm_cpumask: CpuMask,
        wait: bool,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        let targets = mm_cpumask.and(platform.online_cpus()).without(platform.this_cpu());
        self.send_ipis(mm, targets, wait, platform)
    }

    /// Counts what the counter handshake just did: the fence and the words
    /// read (`reads` reloads of the count, `first` its first value).
    fn note_count(
        &self,
        cpu: usize,
        counter: Counter,
        barrier: Barrier,
        online: CpuMask,
        reads: u64,
        first: usize,
    ) {
        match barrier {
            Barrier::Sync => self.note(cpu, Ev::FullFences, 1),
            Barrier::Lwsync => self.note(cpu, Ev::Lwsyncs, 1),
            Barrier::NoFence => {}
        }
        if barrier != Barrier::NoFence {
            // The acquire fence after each read of the count.
            self.note(cpu, Ev::Lwsyncs, reads);
        }
        self.note(cpu, Ev::RemoteLoads, reads * counter::words_read(counter, online));
        self.note(cpu, Ev::WalkersSeen, first as u64);
    }

    /// `count` family: fence, read the count; IPI `mm_cpumask` and wait only
    /// if some walker is counted (Bras v4).
    #[inline(always)]
    pub(crate) fn ipi_if_walkers<P: Platform>(
        &self,
        mm: &MmSync,
        counter: Counter,
        mm_cpumask: CpuMask,
        barrier: Barrier,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        let online = platform.online_cpus();
        let walkers = counter::observe(mm, counter, online, barrier);
        self.note_count(platform.this_cpu(), counter, barrier, online, 1, walkers);
        if walkers == 0 {
            return Ok(SerializeStats { skipped: true, ..SerializeStats::default() });
        }
        let stats = self.ipi_mm_cpumask(mm, mm_cpumask, true, platform)?;
        Ok(SerializeStats { walkers_seen: walkers, ..stats })
    }

    /// `count-wait`: fence, then spin until the count is zero.
    pub(crate) fn wait_walkers_gone<P: Platform>(
        &self,
        mm: &MmSync,
        counter: Counter,
        barrier: Barrier,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        let online = platform.online_cpus();
        let first = counter::observe(mm, counter, online, barrier);
        let deadline = Deadline::start(platform);
        let mut walkers = first;
        let mut spins = 0;
        while walkers != 0 {
            if deadline.expired(platform) {
                let cpu = platform.this_cpu();
                self.note_count(cpu, counter, barrier, online, 1 + spins, first);
                self.note(cpu, Ev::Spins, spins);
                return Err(SyncError::WalkersRemain { mm: mm.id(), walkers, spins });
            }
            platform.relax();
            spins += 1;
            walkers = counter::reload(mm, counter, online, barrier);
        }
        let cpu = platform.this_cpu();
        self.note_count(cpu, counter, barrier, online, 1 + spins, first);
        self.note(cpu, Ev::Spins, spins);
        Ok(SerializeStats { skipped: first == 0, walkers_seen: first, spins, ..SerializeStats::default() })
    }

    /// `percpu`: `sync`, then IPI (and wait for) every online CPU but this
    /// one whose flag says it is walking `mm`, in `mm_cpumask` or not.
    pub(crate) fn ipi_walking_cpus<P: Platform>(
        &self,
        mm: &MmSync,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        Barrier::Sync.fence();
        let me = platform.this_cpu();
        let targets: CpuMask = self
            .online(platform)
            .filter(|&cpu| cpu != me && self.cpus[cpu].walking.load(Ordering::Acquire) == mm.id())
            .collect();
        self.note(me, Ev::FullFences, 1);
        self.note(me, Ev::RemoteLoads, self.online(platform).filter(|&cpu| cpu != me).count() as u64);
        self.note(me, Ev::WalkersSeen, targets.count() as u64);
        self.send_ipis(mm, targets, true, platform)
    }

    /// Sends IPIs to `targets` (none sent, and `skipped`, if it is empty).
    fn send_ipis<P: Platform>(
        &self,
        mm: &MmSync,
        targets: CpuMask,
        wait: bool,
        platform: &P,
    ) -> Result<SerializeStats, SyncError> {
        if targets.is_empty() {
            return Ok(SerializeStats { skipped: true, ..SerializeStats::default() });
        }
        let cpu = platform.this_cpu();
        let ipi = platform.ipi_and_wait(targets, wait).map_err(|timeout| {
            self.note(cpu, Ev::Ipis, targets.count() as u64);
            SyncError::Ipi { mm: mm.id(), timeout }
        })?;
        self.note(cpu, Ev::Ipis, u64::from(ipi.sent));
        if wait {
            self.note(cpu, Ev::AcksWaited, targets.count() as u64);
        }
        self.note(cpu, Ev::Spins, ipi.spins);
        Ok(SerializeStats { targets, ipis: ipi.sent, spins: ipi.spins, ..SerializeStats::default() })
    }
}

/// `percpu` walker entry: flag this CPU as walking mm `mm_id`, then `sync`.
/// Returns the previous flag (a nested walk restores it at its end).
#[inline]
pub(crate) fn flag_enter<W: WalkerWords>(walker: &mut W, mm_id: u32) -> u32 {
    let previous = walker.load(Word::Flag) as u32;
    walker.store(Word::Flag, u64::from(mm_id));
    walker.fence(Barrier::Sync);
    previous
}

/// `percpu` walker exit: release-store the previous flag, so the walk's
/// table reads are complete before a changer can see it.
#[inline]
pub(crate) fn flag_exit<W: WalkerWords>(walker: &mut W, previous: u32) {
    walker.store_exit(Word::Flag, u64::from(previous), Ordering::Release);
}
