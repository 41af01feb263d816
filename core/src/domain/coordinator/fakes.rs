//! Fakes the coordinator engines' tests share: an alarm that records what it was set to, and a
//! switch that makes a fake's storage fail on purpose (`Mode::Break`).

use super::Alarm;
use std::cell::{Cell, RefCell};

/// Whether a fake store answers (`Work`) or fails every call (`Break`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Work,
    Break,
}

/// The error of a broken fake store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken;

/// A storage switch shared by a fake's methods.
#[derive(Default)]
pub struct Switch(pub Cell<Mode>);

impl Switch {
    pub fn check(&self) -> Result<(), Broken> {
        match self.0.get() {
            Mode::Work => Ok(()),
            Mode::Break => Err(Broken),
        }
    }
    pub fn brk(&self) {
        self.0.set(Mode::Break);
    }
}

/// An alarm that keeps the delay it is set to (`None`: not set), like the platform's: `within`
/// keeps a sooner one.
#[derive(Default)]
pub struct FakeAlarm {
    pub at: Cell<Option<i64>>,
    /// Every call, in order: `("set" | "within", ms)`.
    pub calls: RefCell<Vec<(&'static str, i64)>>,
    pub switch: Switch,
}

impl Alarm for FakeAlarm {
    type Error = Broken;
    async fn set(&self, ms: i64) -> Result<(), Broken> {
        self.switch.check()?;
        self.calls.borrow_mut().push(("set", ms));
        self.at.set(Some(ms.max(0)));
        Ok(())
    }
    async fn within(&self, ms: i64) -> Result<(), Broken> {
        self.switch.check()?;
        self.calls.borrow_mut().push(("within", ms));
        let ms = ms.max(0);
        match self.at.get() {
            Some(existing) if existing <= ms => {}
            _ => self.at.set(Some(ms)),
        }
        Ok(())
    }
}

/// `impl Alarm` for a fake whose `alarm` field is a `FakeAlarm`.
macro_rules! alarm_through_field {
    ($t:ty) => {
        impl $crate::domain::coordinator::Alarm for $t {
            type Error = $crate::domain::coordinator::fakes::Broken;
            async fn set(&self, ms: i64) -> Result<(), Self::Error> {
                self.alarm.set(ms).await
            }
            async fn within(&self, ms: i64) -> Result<(), Self::Error> {
                self.alarm.within(ms).await
            }
        }
    };
}
pub(crate) use alarm_through_field;
