//! Policy evaluation allocates nothing (AUTHZ §6), shown by a counting global allocator.
//!
//! The allocator counts only on the thread under test, so that the test harness's own threads
//! cannot disturb the count.

#[path = "../benches/common/policy20.rs"]
mod policy20;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use http::{HeaderMap, Method, Uri};
use tower_iam_auth::policy::{Authorize, AuthzRequest, Outcome, Policy, PolicyHandle};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluating_a_20_statement_policy_allocates_nothing() {
    let policy = Policy::from_json(&policy20::policy20_json()).unwrap();
    let handle = PolicyHandle::new(policy.clone());
    let principal = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/bench-role/bench",
        "AROAEXAMPLEID1234567:bench",
    )
    .unwrap();
    let headers = HeaderMap::new();
    let cases = [
        (Method::GET, Uri::from_static("/whoami"), Outcome::Allow),
        (
            Method::DELETE,
            Uri::from_static("/admin/users/7"),
            Outcome::ExplicitDeny,
        ),
        (
            Method::PUT,
            Uri::from_static("/service7/items/1"),
            Outcome::ImplicitDeny,
        ),
    ];
    let requests: Vec<AuthzRequest<'_>> = cases
        .iter()
        .map(|(method, uri, _)| {
            AuthzRequest::new(method, uri, &headers).principal(Some(&principal))
        })
        .collect();
    // Warm up (lazy statics, thread-locals).
    for (request, (_, _, expected)) in requests.iter().zip(&cases) {
        assert_eq!(policy.evaluate(request).unwrap().outcome(), *expected);
        assert_eq!(handle.authorize(request).unwrap().outcome(), *expected);
    }

    let before = allocations();
    let mut allowed = 0;
    for _ in 0..1000 {
        for request in &requests {
            allowed += usize::from(policy.evaluate(request).unwrap().is_allowed());
            allowed += usize::from(handle.authorize(request).unwrap().is_allowed());
        }
    }
    let allocations = allocations() - before;
    assert_eq!(allowed, 2000, "only the first case is allowed");
    assert_eq!(
        allocations, 0,
        "6000 evaluations allocated {allocations} times"
    );
}

#[test]
fn remembered_decisions_evicting_each_other_allocate_nothing() {
    // More distinct requests than the per-thread table of remembered decisions has slots, so
    // that entries are certainly replaced: replacing one must reuse its storage.
    let policy = Policy::from_json(&policy20::policy20_json()).unwrap();
    let handle = PolicyHandle::new(policy);
    let principal = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/bench-role/bench",
        "AROAEXAMPLEID1234567:bench",
    )
    .unwrap();
    let headers = HeaderMap::new();
    let uris: Vec<Uri> = (0..600)
        .map(|i| {
            format!("/service{}/items/{i:0>40}", i % 19)
                .parse()
                .unwrap()
        })
        .collect();
    let method = Method::GET;
    let requests: Vec<AuthzRequest<'_>> = uris
        .iter()
        .map(|uri| AuthzRequest::new(&method, uri, &headers).principal(Some(&principal)))
        .collect();
    // Two rounds of warm-up: every slot holds a path buffer as long as any that maps to it.
    for _ in 0..2 {
        for request in &requests {
            handle.authorize(request).unwrap();
        }
    }
    let before = allocations();
    let mut allowed = 0;
    for _ in 0..5 {
        for request in &requests {
            allowed += usize::from(handle.authorize(request).unwrap().is_allowed());
        }
    }
    let allocations = allocations() - before;
    assert_eq!(allowed, 0, "bench-role may not call the services");
    assert_eq!(
        allocations, 0,
        "3000 decisions allocated {allocations} times"
    );
}
