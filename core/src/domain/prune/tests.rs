use super::*;
use crate::domain::test_support::block_on;
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

/// Orgs with rows to prune, and where the job's walk is saved (the index of the last org
/// visited, `None`: from the first).
#[derive(Debug, Clone, Default)]
struct World {
    rows: Vec<u64>,
    saved: Option<usize>,
    /// Orgs whose deletes fail.
    failing: Vec<usize>,
    /// The walk itself fails (orgs cannot be read).
    broken: bool,
    deletes: u32,
}

struct Walk {
    world: Rc<RefCell<World>>,
    at: Option<usize>,
    visited: Option<usize>,
}

impl Walk {
    fn resume(world: &Rc<RefCell<World>>) -> Walk {
        let saved = world.borrow().saved;
        Walk {
            world: world.clone(),
            at: saved,
            visited: saved,
        }
    }
}

#[derive(Debug, PartialEq)]
struct Broken;

impl PruneWalk for Walk {
    type Org = usize;
    type Error = Broken;
    type Failure = Broken;
    async fn next(&mut self) -> Result<Option<usize>, Broken> {
        let mut w = self.world.borrow_mut();
        if w.broken {
            return Err(Broken);
        }
        let next = self.at.map_or(0, |i| i + 1);
        if next >= w.rows.len() {
            w.saved = None;
            return Ok(None);
        }
        self.at = Some(next);
        Ok(Some(next))
    }
    fn visited(&mut self, org: &usize) {
        self.visited = Some(*org);
    }
    async fn pause(self) -> Result<(), Broken> {
        self.world.borrow_mut().saved = self.visited;
        Ok(())
    }
    async fn delete(&self, org: &usize, limit: u32) -> Result<u64, Broken> {
        let mut w = self.world.borrow_mut();
        w.deletes += 1;
        if w.failing.contains(org) {
            return Err(Broken);
        }
        let n = w.rows[*org].min(u64::from(limit));
        w.rows[*org] -= n;
        Ok(n)
    }
    fn report(&self, _: &usize, _: &Broken) {}
}

fn world(rows: Vec<u64>) -> Rc<RefCell<World>> {
    Rc::new(RefCell::new(World {
        rows,
        ..Default::default()
    }))
}

fn tick(w: &Rc<RefCell<World>>, budget: PruneBudget, orgs: u32) -> Result<u64, Broken> {
    block_on(prune(Walk::resume(w), budget, orgs))
}

#[test]
fn the_budget_is_shared_by_the_three_jobs_and_an_org_gets_half() {
    assert_eq!(PruneBudget::new(300), PruneBudget { per_job: 100 });
    assert_eq!(PruneBudget::new(300).per_org(), 50);
    // At least one statement each.
    assert_eq!(PruneBudget::new(0).per_job, 1);
    assert_eq!(PruneBudget::new(0).per_org(), 1);
}

#[test]
fn small_orgs_are_pruned_in_one_tick_and_the_pass_ends() {
    let w = world(vec![10, 0, 499]);
    assert_eq!(tick(&w, PruneBudget::new(300), 100), Ok(509));
    assert_eq!(w.borrow().rows, [0, 0, 0]);
    assert_eq!(
        w.borrow().saved,
        None,
        "the next pass starts from the first"
    );
}

#[test]
fn an_org_with_a_backlog_that_began_the_tick_is_passed_over_until_the_next_pass() {
    // Budget 6: 2 statements a job, 1 an org.
    let w = world(vec![5_000, 600]);
    tick(&w, PruneBudget::new(6), 100).expect("tick");
    // The first org got one statement, the second one: 500 rows each.
    assert_eq!(w.borrow().rows, [4_500, 100]);
    // Org 1 still has rows and did not begin the tick: the next tick starts with it.
    assert_eq!(w.borrow().saved, Some(0));
    tick(&w, PruneBudget::new(6), 100).expect("tick");
    assert_eq!(w.borrow().rows, [4_500, 0]);
}

#[test]
fn at_most_the_org_budget_is_visited_a_tick() {
    let w = world(vec![1, 1, 1, 1]);
    assert_eq!(tick(&w, PruneBudget::new(300), 2), Ok(2));
    assert_eq!(w.borrow().saved, Some(1));
    assert_eq!(tick(&w, PruneBudget::new(300), 2), Ok(2));
}

#[test]
fn a_failed_delete_stops_the_job_at_its_org_and_a_first_org_failing_is_passed_over() {
    let w = world(vec![1, 1, 1]);
    w.borrow_mut().failing = vec![1];
    assert_eq!(tick(&w, PruneBudget::new(300), 100), Ok(1));
    assert_eq!(
        w.borrow().saved,
        Some(0),
        "the next tick starts with the failing org"
    );
    // It fails again as the tick's first: passed over, and the next tick goes on after it.
    assert_eq!(tick(&w, PruneBudget::new(300), 100), Ok(0));
    assert_eq!(w.borrow().saved, Some(1));
    assert_eq!(tick(&w, PruneBudget::new(300), 100), Ok(1));
    assert_eq!(w.borrow().rows, [0, 1, 0]);
}

#[test]
fn a_broken_walk_is_an_error_of_the_tick() {
    let w = world(vec![1]);
    w.borrow_mut().broken = true;
    assert_eq!(tick(&w, PruneBudget::new(300), 100), Err(Broken));
}

proptest! {
    /// Whatever the rows and budgets, a tick sends at most its share of statements, and
    /// enough ticks prune everything.
    #[test]
    fn a_tick_stays_within_its_share_and_every_row_goes_eventually(
        rows in proptest::collection::vec(0u64..3_000, 0..8),
        total in 0u32..40,
        orgs in 1u32..5,
    ) {
        let w = world(rows.clone());
        let budget = PruneBudget::new(total);
        let mut pruned = 0;
        for _ in 0..200 {
            let before = w.borrow().deletes;
            pruned += tick(&w, budget, orgs).expect("tick");
            prop_assert!(w.borrow().deletes - before <= budget.per_job);
        }
        prop_assert_eq!(pruned, rows.iter().sum::<u64>());
        prop_assert!(w.borrow().rows.iter().all(|r| *r == 0));
    }
}
