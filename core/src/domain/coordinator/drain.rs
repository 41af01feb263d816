//! The coordinator's drains of the project's webhook outbox (`domain::outbox::drain` is one
//! drain). A wake moves the wake's generation and asks for a drain within the coalescing
//! delay, so a burst of events is drained together; a drain that finds nothing more to do
//! forgets the wake only if no other wake came while it ran (the generation it read is still
//! the stored one), otherwise the next alarm drains again at once. A drain that leaves rows
//! waiting sets the alarm for when they are due; a failed drain is tried again in
//! `UNREACHED_MS`.

use super::{Alarm, UNREACHED_MS};

/// The coordinator's record of the wake it has to answer.
pub trait DrainSlot: Alarm {
    /// The wake's generation, if woken.
    fn generation(&self) -> Result<Option<i64>, Self::Error>;
    /// Whose outbox is drained (kept with the wake).
    type Target;
    /// A wake for `target`: the generation moves (or starts).
    fn bump(&self, target: &Self::Target) -> Result<(), Self::Error>;
    /// Forgets the wake if its generation is still `gen`.
    fn forget(&self, gen: i64) -> Result<(), Self::Error>;
}

/// One drain (in the adapter: `webhooks::drain`).
#[allow(async_fn_in_trait)]
pub trait Drainer {
    type Failure;
    /// Drains once; when the outbox next has something due (ms since the epoch), if ever.
    async fn drain(&self) -> Result<Option<i64>, Self::Failure>;
    fn report(&self, e: &Self::Failure);
}

/// A wake: drained within `coalesce_ms` (sooner if the alarm is already set sooner).
pub async fn wake<S: DrainSlot>(
    slot: &S,
    target: &S::Target,
    coalesce_ms: i64,
) -> Result<(), S::Error> {
    slot.bump(target)?;
    slot.within(coalesce_ms).await
}

/// One drain at `now` (ms since the epoch), if woken.
pub async fn tick<S: DrainSlot, D: Drainer>(slot: &S, d: &D, now: i64) -> Result<(), S::Error> {
    let Some(gen) = slot.generation()? else {
        return Ok(());
    };
    match d.drain().await {
        Ok(None) => {
            slot.forget(gen)?;
            if slot.generation()?.is_some() {
                slot.within(0).await?;
            }
            Ok(())
        }
        Ok(Some(due)) => slot.within(due - now).await,
        Err(e) => {
            d.report(&e);
            slot.within(UNREACHED_MS).await
        }
    }
}

#[cfg(test)]
mod tests;
