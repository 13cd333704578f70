//! Unit tests with a fake user memory and fake threads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use weft_abi::Errno;
use weft_abi::futex::*;

use crate::robust::{RobustEnd, check_robust_list_len, exit_robust_list};
use crate::{Fault, FutexKey, FutexTable, FutexThread, UserMem, WaitOutcome, WaitState};

/// Word-granular fake user memory. Words in `absent` fault until `fault_in`
/// brings them in; addresses never written are unmapped.
#[derive(Default)]
struct FakeMem {
    words: Mutex<BTreeMap<u64, u32>>,
    absent: Mutex<BTreeSet<u64>>,
    fault_ins: Mutex<usize>,
}

impl FakeMem {
    fn new() -> Self {
        Self::default()
    }
    fn set(&self, a: u64, v: u32) {
        self.words.lock().unwrap().insert(a, v);
    }
    fn get(&self, a: u64) -> u32 {
        self.words.lock().unwrap()[&a]
    }
    fn set64(&self, a: u64, v: u64) {
        self.set(a, v as u32);
        self.set(a + 4, (v >> 32) as u32);
    }
    fn make_absent(&self, a: u64) {
        self.absent.lock().unwrap().insert(a & !3);
    }
    fn fault_ins(&self) -> usize {
        *self.fault_ins.lock().unwrap()
    }
    fn word(&self, a: u64) -> Result<u32, Fault> {
        if self.absent.lock().unwrap().contains(&a) {
            return Err(Fault);
        }
        self.words.lock().unwrap().get(&a).copied().ok_or(Fault)
    }
}

impl UserMem for FakeMem {
    fn load_u32(&self, a: u64) -> Result<u32, Fault> {
        self.word(a)
    }
    fn load_u64(&self, a: u64) -> Result<u64, Fault> {
        if !a.is_multiple_of(8) {
            return Err(Fault);
        }
        Ok(self.word(a)? as u64 | (self.word(a + 4)? as u64) << 32)
    }
    fn cmpxchg_u32(&self, a: u64, expected: u32, new: u32) -> Result<u32, Fault> {
        let cur = self.word(a)?;
        if cur == expected {
            self.set(a, new);
        }
        Ok(cur)
    }
    fn fault_in(&self, a: u64, _write: bool) -> Result<(), Fault> {
        *self.fault_ins.lock().unwrap() += 1;
        let present = self.words.lock().unwrap().contains_key(&(a & !3));
        self.absent.lock().unwrap().remove(&(a & !3));
        if present { Ok(()) } else { Err(Fault) }
    }
}

struct Thread {
    id: usize,
    st: WaitState,
}

impl FutexThread for Thread {
    fn futex_wait_state(&self) -> &WaitState {
        &self.st
    }
}

type T = Arc<Thread>;

fn threads(n: usize) -> Vec<T> {
    (0..n)
        .map(|id| {
            Arc::new(Thread {
                id,
                st: WaitState::new(),
            })
        })
        .collect()
}

fn key(addr: u64) -> FutexKey {
    FutexKey::private(1, addr)
}

/// Collects woken thread ids.
fn woken() -> (Arc<Mutex<Vec<usize>>>, impl FnMut(T) + Clone) {
    let v = Arc::new(Mutex::new(Vec::new()));
    let v2 = v.clone();
    (v, move |t: T| v2.lock().unwrap().push(t.id))
}

const A: u64 = 0x1000;
const B: u64 = 0x2000;

/// Two addresses whose keys land in different buckets (`same == false`) or the
/// same bucket (`same == true`) of `t`.
fn pair(t: &FutexTable<T>, same: bool) -> (u64, u64) {
    let a = A;
    let ba = t.bucket_of(&key(a));
    for i in 1..10_000u64 {
        let b = A + 4 * i;
        if (t.bucket_of(&key(b)) == ba) == same {
            return (a, b);
        }
    }
    unreachable!()
}

#[test]
fn wait_mismatch_is_eagain_and_leaves_nothing() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 5);
    let th = threads(1);
    let r = t.wait_prepare(&m, key(A), A, 4, FUTEX_BITSET_MATCH_ANY, th[0].clone());
    assert_eq!(r.err(), Some(Errno::EAGAIN));
    assert!(t.is_idle());
    assert!(th[0].st.is_idle());
}

#[test]
fn wait_argument_errors() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(1);
    let r = t.wait_prepare(&m, key(A), A, 0, 0, th[0].clone());
    assert_eq!(r.err(), Some(Errno::EINVAL));
    let r = t.wait_prepare(&m, key(A + 2), A + 2, 0, 1, th[0].clone());
    assert_eq!(r.err(), Some(Errno::EINVAL));
    let r = t.wait_prepare(&m, key(B), B, 0, 1, th[0].clone());
    assert_eq!(r.err(), Some(Errno::EFAULT));
    assert!(t.is_idle());
}

#[test]
fn wait_faults_in_and_retries() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 3);
    m.make_absent(A);
    let th = threads(1);
    let tok = t.wait_prepare(&m, key(A), A, 3, 1, th[0].clone()).unwrap();
    assert_eq!(m.fault_ins(), 1);
    assert_eq!(t.queued(&key(A)), 1);
    assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::TimedOut);
    assert!(t.is_idle());
}

#[test]
fn wait_then_wake() {
    let t = FutexTable::<T>::new(2);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(1);
    let tok = t
        .wait_prepare(&m, key(A), A, 0, FUTEX_BITSET_MATCH_ANY, th[0].clone())
        .unwrap();
    assert!(!tok.is_woken());
    assert_eq!(t.queued(&key(A)), 1);
    let (ids, cb) = woken();
    assert_eq!(t.wake(&key(A), 1, FUTEX_BITSET_MATCH_ANY, cb), Ok(1));
    assert_eq!(*ids.lock().unwrap(), [0]);
    assert!(tok.is_woken());
    // A timeout that fires after the wake does not lose it.
    assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    assert!(t.is_idle());
    assert!(th[0].st.is_idle());
}

#[test]
fn wake_without_waiters_and_zero_count() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let (ids, cb) = woken();
    assert_eq!(
        t.wake(&key(A), 10, FUTEX_BITSET_MATCH_ANY, cb.clone()),
        Ok(0)
    );
    assert_eq!(t.wake(&key(A), 1, 0, cb.clone()), Err(Errno::EINVAL));
    let th = threads(1);
    let tok = t.wait_prepare(&m, key(A), A, 0, 1, th[0].clone()).unwrap();
    assert_eq!(t.wake(&key(A), 0, FUTEX_BITSET_MATCH_ANY, cb), Ok(0));
    assert!(ids.lock().unwrap().is_empty());
    assert_eq!(
        tok.finish(WaitOutcome::Interrupted),
        WaitOutcome::Interrupted
    );
    assert!(t.is_idle());
}

#[test]
fn fifo_order_and_key_isolation() {
    // One bucket: every key collides.
    let t = FutexTable::<T>::with_buckets(1);
    let m = FakeMem::new();
    m.set(A, 0);
    m.set(B, 0);
    let th = threads(6);
    let mut toks = Vec::new();
    for (i, th) in th.iter().enumerate() {
        let a = if i.is_multiple_of(2) { A } else { B };
        toks.push(t.wait_prepare(&m, key(a), a, 0, 1, th.clone()).unwrap());
    }
    let (ids, cb) = woken();
    assert_eq!(t.wake(&key(A), 2, 1, cb.clone()), Ok(2));
    assert_eq!(*ids.lock().unwrap(), [0, 2]);
    assert_eq!(t.wake(&key(B), 1, 1, cb.clone()), Ok(1));
    assert_eq!(t.wake(&key(A), 5, 1, cb.clone()), Ok(1));
    assert_eq!(t.wake(&key(B), 5, 1, cb), Ok(2));
    assert_eq!(*ids.lock().unwrap(), [0, 2, 1, 4, 3, 5]);
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::Interrupted), WaitOutcome::Woken);
    }
    assert!(t.is_idle());
}

#[test]
fn other_address_spaces_and_shared_keys_do_not_mix() {
    let t = FutexTable::<T>::with_buckets(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(2);
    let k1 = FutexKey::private(1, A);
    let k2 = FutexKey::private(2, A);
    let t1 = t.wait_prepare(&m, k1, A, 0, 1, th[0].clone()).unwrap();
    let t2 = t.wait_prepare(&m, k2, A, 0, 1, th[1].clone()).unwrap();
    let (ids, cb) = woken();
    assert_eq!(t.wake(&FutexKey::shared(7, 0), 9, 1, cb.clone()), Ok(0));
    assert_eq!(t.wake(&k2, 9, 1, cb), Ok(1));
    assert_eq!(*ids.lock().unwrap(), [1]);
    assert_eq!(t1.finish(WaitOutcome::TimedOut), WaitOutcome::TimedOut);
    assert_eq!(t2.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
}

#[test]
fn bitsets() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(3);
    let bits = [0b001, 0b010, 0b110];
    let toks: Vec<_> = th
        .iter()
        .zip(bits)
        .map(|(th, b)| t.wait_prepare(&m, key(A), A, 0, b, th.clone()).unwrap())
        .collect();
    let (ids, cb) = woken();
    assert_eq!(t.wake(&key(A), 10, 0b100, cb.clone()), Ok(1));
    assert_eq!(*ids.lock().unwrap(), [2]);
    assert_eq!(t.wake(&key(A), 10, 0b011, cb), Ok(2));
    assert_eq!(*ids.lock().unwrap(), [2, 0, 1]);
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    }
}

#[test]
fn timeout_and_interrupt_remove_the_entry() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(3);
    let t0 = t.wait_prepare(&m, key(A), A, 0, 1, th[0].clone()).unwrap();
    let t1 = t.wait_prepare(&m, key(A), A, 0, 1, th[1].clone()).unwrap();
    let t2 = t.wait_prepare(&m, key(A), A, 0, 1, th[2].clone()).unwrap();
    assert_eq!(t0.finish(WaitOutcome::TimedOut), WaitOutcome::TimedOut);
    assert_eq!(
        t1.finish(WaitOutcome::Interrupted),
        WaitOutcome::Interrupted
    );
    // Dropping a token finishes it as interrupted.
    drop(t2);
    assert!(t.is_idle());
    let (ids, cb) = woken();
    assert_eq!(t.wake(&key(A), 10, 1, cb), Ok(0));
    assert!(ids.lock().unwrap().is_empty());
    // The threads can wait again.
    let t0 = t.wait_prepare(&m, key(A), A, 0, 1, th[0].clone()).unwrap();
    assert_eq!(t0.finish(WaitOutcome::TimedOut), WaitOutcome::TimedOut);
}

#[test]
fn spurious_finish_reports_woken_and_cleans_up() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(1);
    let tok = t.wait_prepare(&m, key(A), A, 0, 1, th[0].clone()).unwrap();
    assert_eq!(t.wait_finish(tok, WaitOutcome::Woken), WaitOutcome::Woken);
    assert!(t.is_idle());
}

#[test]
fn wake_many_spills_past_inline_list() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(40);
    let toks: Vec<_> = th
        .iter()
        .map(|th| t.wait_prepare(&m, key(A), A, 0, 1, th.clone()).unwrap())
        .collect();
    let (ids, cb) = woken();
    assert_eq!(t.wake(&key(A), i32::MAX as u32, 1, cb), Ok(40));
    assert_eq!(*ids.lock().unwrap(), (0..40).collect::<Vec<_>>());
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    }
    assert!(t.is_idle());
}

fn requeue_case(same_bucket: bool) {
    let t = FutexTable::<T>::with_buckets(64);
    let (a, b) = pair(&t, same_bucket);
    let m = FakeMem::new();
    m.set(a, 0);
    m.set(b, 0);
    let th = threads(6);
    // 0..4 wait on a (thread 2 with bitset 2), 4 and 5 already wait on b.
    let mut toks = Vec::new();
    for (i, th) in th.iter().enumerate() {
        let (addr, bits) = match i {
            2 => (a, 0b10),
            0..4 => (a, 0b01),
            _ => (b, 0b01),
        };
        toks.push(
            t.wait_prepare(&m, key(addr), addr, 0, bits, th.clone())
                .unwrap(),
        );
    }
    let (ids, cb) = woken();
    // Wake 1, move 2: thread 0 woken, 1 and 2 moved, 3 stays.
    let n = t.requeue(&m, &key(a), &key(b), 1, 2, None, cb.clone());
    assert_eq!(n, Ok(3));
    assert_eq!(*ids.lock().unwrap(), [0]);
    assert_eq!(t.queued(&key(a)), 1);
    assert_eq!(t.queued(&key(b)), 4);
    // A requeued waiter that times out is found in its new bucket.
    let t1 = toks.remove(1);
    assert_eq!(t1.finish(WaitOutcome::TimedOut), WaitOutcome::TimedOut);
    assert_eq!(t.queued(&key(b)), 3);
    // The requeued waiter keeps its bitset.
    assert_eq!(t.wake(&key(b), 10, 0b01, cb.clone()), Ok(2));
    let order = ids.lock().unwrap().clone();
    assert_eq!(order[0], 0);
    let mut rest = order[1..].to_vec();
    rest.sort();
    assert_eq!(rest, [4, 5]);
    assert_eq!(t.wake(&key(b), 10, 0b10, cb.clone()), Ok(1));
    assert_eq!(t.wake(&key(a), 10, 0b01, cb), Ok(1));
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    }
    assert!(t.is_idle());
}

#[test]
fn requeue_across_buckets() {
    requeue_case(false);
}

#[test]
fn requeue_within_one_bucket() {
    requeue_case(true);
}

#[test]
fn requeue_order_goes_behind_existing_waiters() {
    let t = FutexTable::<T>::with_buckets(64);
    let (a, b) = pair(&t, false);
    let m = FakeMem::new();
    m.set(a, 0);
    m.set(b, 0);
    let th = threads(4);
    let toks: Vec<_> = th
        .iter()
        .enumerate()
        .map(|(i, th)| {
            let addr = if i < 2 { a } else { b };
            t.wait_prepare(&m, key(addr), addr, 0, 1, th.clone())
                .unwrap()
        })
        .collect();
    let (ids, cb) = woken();
    assert_eq!(
        t.requeue(&m, &key(a), &key(b), 0, 10, None, cb.clone()),
        Ok(2)
    );
    assert_eq!(t.wake(&key(b), 10, 1, cb), Ok(4));
    assert_eq!(*ids.lock().unwrap(), [2, 3, 0, 1]);
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    }
}

#[test]
fn requeue_same_key() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 0);
    let th = threads(3);
    let toks: Vec<_> = th
        .iter()
        .map(|th| t.wait_prepare(&m, key(A), A, 0, 1, th.clone()).unwrap())
        .collect();
    let (ids, cb) = woken();
    assert_eq!(t.requeue(&m, &key(A), &key(A), 1, 5, None, cb), Ok(3));
    assert_eq!(*ids.lock().unwrap(), [0]);
    assert_eq!(t.queued(&key(A)), 2);
    drop(toks);
    assert!(t.is_idle());
}

#[test]
fn cmp_requeue_checks_value() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    m.set(A, 7);
    m.set(B, 0);
    let th = threads(2);
    let toks: Vec<_> = th
        .iter()
        .map(|th| t.wait_prepare(&m, key(A), A, 7, 1, th.clone()).unwrap())
        .collect();
    let (ids, cb) = woken();
    let r = t.requeue(&m, &key(A), &key(B), 1, 1, Some((A, 8)), cb.clone());
    assert_eq!(r, Err(Errno::EAGAIN));
    assert_eq!(t.queued(&key(A)), 2);
    let r = t.requeue(&m, &key(A), &key(B), 1, 1, Some((A + 2, 7)), cb.clone());
    assert_eq!(r, Err(Errno::EINVAL));
    let r = t.requeue(&m, &key(A), &key(B), 1, 1, Some((0x9000, 7)), cb.clone());
    assert_eq!(r, Err(Errno::EFAULT));
    m.make_absent(A);
    let r = t.requeue(&m, &key(A), &key(B), 1, 1, Some((A, 7)), cb.clone());
    assert_eq!(r, Ok(2));
    assert_eq!(m.fault_ins(), 2);
    assert_eq!(*ids.lock().unwrap(), [0]);
    assert_eq!(t.queued(&key(B)), 1);
    // With no waiters, CMP_REQUEUE still checks the value.
    let t2 = FutexTable::<T>::new(1);
    assert_eq!(
        t2.requeue(&m, &key(A), &key(B), 1, 1, Some((A, 1)), cb.clone()),
        Err(Errno::EAGAIN)
    );
    assert_eq!(t2.requeue(&m, &key(A), &key(B), 1, 1, None, cb), Ok(0));
    drop(toks);
    assert!(t.is_idle());
}

fn wake_op_case(same_bucket: bool) {
    let t = FutexTable::<T>::with_buckets(64);
    let (a, b) = pair(&t, same_bucket);
    let m = FakeMem::new();
    m.set(a, 0);
    m.set(b, 5);
    let th = threads(4);
    let toks: Vec<_> = th
        .iter()
        .enumerate()
        .map(|(i, th)| {
            let (addr, v) = if i < 2 { (a, 0) } else { (b, 5) };
            t.wait_prepare(&m, key(addr), addr, v, 1, th.clone())
                .unwrap()
        })
        .collect();
    let (ids, cb) = woken();
    // *b = 0 (was 5); 5 > 1 holds: wake 1 on a and 1 on b.
    let op = WakeOp::decode(futex_op(FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, 1)).unwrap();
    let n = t.wake_op(&m, &key(a), &key(b), b, 1, 1, op, cb.clone());
    assert_eq!(n, Ok(2));
    assert_eq!(m.get(b), 0);
    assert_eq!(*ids.lock().unwrap(), [0, 2]);
    // *b += 1 (was 0); 0 > 1 fails: only a is woken.
    let op = WakeOp::decode(futex_op(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 1)).unwrap();
    let n = t.wake_op(&m, &key(a), &key(b), b, 5, 5, op, cb.clone());
    assert_eq!(n, Ok(1));
    assert_eq!(m.get(b), 1);
    assert_eq!(*ids.lock().unwrap(), [0, 2, 1]);
    // Faults: unmapped is EFAULT with nothing changed; absent is faulted in.
    let n = t.wake_op(&m, &key(a), &key(b), 0x9000, 5, 5, op, cb.clone());
    assert_eq!(n, Err(Errno::EFAULT));
    m.make_absent(b);
    let op = WakeOp::decode(futex_op(FUTEX_OP_OR, 6, FUTEX_OP_CMP_EQ, 1)).unwrap();
    let n = t.wake_op(&m, &key(a), &key(b), b, 5, 5, op, cb.clone());
    assert_eq!(n, Ok(1));
    assert_eq!(m.get(b), 7);
    assert_eq!(*ids.lock().unwrap(), [0, 2, 1, 3]);
    assert_eq!(
        t.wake_op(&m, &key(a), &key(b), b + 1, 1, 1, op, cb),
        Err(Errno::EINVAL)
    );
    for tok in toks {
        assert_eq!(tok.finish(WaitOutcome::TimedOut), WaitOutcome::Woken);
    }
    assert!(t.is_idle());
}

#[test]
fn wake_op_across_buckets() {
    wake_op_case(false);
}

#[test]
fn wake_op_within_one_bucket() {
    wake_op_case(true);
}

#[test]
fn wake_op_all_operations() {
    let t = FutexTable::<T>::new(1);
    let m = FakeMem::new();
    let cases = [
        (FUTEX_OP_SET, 0b1100u32, 0b0110u32, 0b0110u32),
        (FUTEX_OP_ADD, 0b1100, 0b0110, 0b10010),
        (FUTEX_OP_OR, 0b1100, 0b0110, 0b1110),
        (FUTEX_OP_ANDN, 0b1100, 0b0110, 0b1000),
        (FUTEX_OP_XOR, 0b1100, 0b0110, 0b1010),
        (FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 0, 4, 16),
    ];
    for (code, old, arg, new) in cases {
        m.set(B, old);
        let op = WakeOp::decode(futex_op(code, arg, FUTEX_OP_CMP_EQ, old)).unwrap();
        assert_eq!(t.wake_op(&m, &key(A), &key(B), B, 1, 1, op, |_| ()), Ok(0));
        assert_eq!(m.get(B), new, "op {code}");
    }
    // Same key for both: woken twice over from one queue.
    m.set(A, 0);
    let th = threads(3);
    let toks: Vec<_> = th
        .iter()
        .map(|th| t.wait_prepare(&m, key(A), A, 0, 1, th.clone()).unwrap())
        .collect();
    let op = WakeOp::decode(futex_op(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 0)).unwrap();
    assert_eq!(t.wake_op(&m, &key(A), &key(A), A, 1, 1, op, |_| ()), Ok(2));
    drop(toks);
    assert!(t.is_idle());
}

#[test]
fn table_is_shareable() {
    fn send_sync<X: Send + Sync>() {}
    send_sync::<FutexTable<T>>();
    send_sync::<WaitState>();
}

#[test]
fn table_sizes() {
    assert_eq!(FutexTable::<T>::new(1).bucket_count(), 256);
    assert_eq!(FutexTable::<T>::new(3).bucket_count(), 1024);
    assert_eq!(FutexTable::<T>::new(0).bucket_count(), 256);
    assert_eq!(FutexTable::<T>::with_buckets(0).bucket_count(), 1);
    assert_eq!(FutexTable::<T>::with_buckets(100).bucket_count(), 128);
}

#[test]
fn outcome_results() {
    assert_eq!(WaitOutcome::Woken.syscall_result(true), Ok(0));
    assert_eq!(
        WaitOutcome::TimedOut.syscall_result(true),
        Err(Errno::ETIMEDOUT)
    );
    assert_eq!(
        WaitOutcome::Interrupted.syscall_result(false),
        Err(Errno::ERESTARTSYS)
    );
    assert_eq!(
        WaitOutcome::Interrupted.syscall_result(true),
        Err(Errno::ERESTART_RESTARTBLOCK)
    );
}

// ---- robust lists ------------------------------------------------------------

const HEAD: u64 = 0x10_0000;
const TID: u32 = 1234;
/// Futex word at entry + 8 (a mutex with the link first, then the lock word).
const OFF: i64 = 8;

/// Builds a robust list: `entries` are entry addresses in list order, each with
/// its futex word value; `pending` is `list_op_pending`.
fn robust_mem(entries: &[(u64, u32)], pending: u64) -> FakeMem {
    let m = FakeMem::new();
    let first = entries.first().map_or(HEAD, |e| e.0);
    m.set64(HEAD, first);
    m.set64(HEAD + 8, OFF as u64);
    m.set64(HEAD + 16, pending);
    for (i, &(e, word)) in entries.iter().enumerate() {
        let next = entries.get(i + 1).map_or(HEAD, |n| n.0);
        m.set64(e & !1, next);
        m.set((e & !1).wrapping_add_signed(OFF), word);
    }
    m
}

fn walk(m: &FakeMem) -> (crate::robust::RobustWalk, Vec<u64>) {
    let mut wakes = Vec::new();
    let r = exit_robust_list(m, HEAD, TID, |a| wakes.push(a));
    (r, wakes)
}

#[test]
fn robust_len_check() {
    assert_eq!(check_robust_list_len(24), Ok(()));
    assert_eq!(check_robust_list_len(16), Err(Errno::EINVAL));
    assert_eq!(check_robust_list_len(32), Err(Errno::EINVAL));
}

#[test]
fn robust_marks_owned_futexes() {
    let e1 = 0x20_0000;
    let e2 = 0x20_0100;
    let e3 = 0x20_0200;
    let e4 = 0x20_0300;
    let m = robust_mem(
        &[
            (e1, TID | FUTEX_WAITERS),
            (e2, TID),
            (e3, 999 | FUTEX_WAITERS),
            (e4, 0),
        ],
        0,
    );
    let (r, wakes) = walk(&m);
    assert_eq!(r.end, RobustEnd::Complete);
    assert_eq!(r.entries, 4);
    assert_eq!(r.wakes, 1);
    assert_eq!(wakes, [e1 + 8]);
    assert_eq!(m.get(e1 + 8), FUTEX_OWNER_DIED | FUTEX_WAITERS);
    assert_eq!(m.get(e2 + 8), FUTEX_OWNER_DIED);
    assert_eq!(m.get(e3 + 8), 999 | FUTEX_WAITERS);
    assert_eq!(m.get(e4 + 8), 0);
}

#[test]
fn robust_empty_and_absent() {
    let m = robust_mem(&[], 0);
    let (r, wakes) = walk(&m);
    assert_eq!((r.end, r.entries, wakes.len()), (RobustEnd::Complete, 0, 0));
    let r = exit_robust_list(&m, 0, TID, |_| panic!());
    assert_eq!((r.end, r.entries), (RobustEnd::Complete, 0));
    let r = exit_robust_list(&m, 0x7777_0000, TID, |_| panic!());
    assert_eq!(r.end, RobustEnd::Fault);
}

#[test]
fn robust_pending_entry() {
    let e1 = 0x20_0000;
    let e2 = 0x20_0100;
    // Pending entry that is also on the list: handled once, as pending.
    let m = robust_mem(&[(e1, TID | FUTEX_WAITERS), (e2, TID | FUTEX_WAITERS)], e2);
    let (r, wakes) = walk(&m);
    assert_eq!(r.entries, 2);
    assert_eq!(wakes, [e1 + 8, e2 + 8]);
    assert_eq!(m.get(e2 + 8), FUTEX_OWNER_DIED | FUTEX_WAITERS);

    // Pending entry not on the list (died while locking).
    let p = 0x30_0000;
    let m = robust_mem(&[(e1, 5)], p);
    m.set(p + 8, TID);
    let (_, wakes) = walk(&m);
    assert!(wakes.is_empty());
    assert_eq!(m.get(p + 8), FUTEX_OWNER_DIED);

    // Pending entry already released (owner 0): wake one waiter, word untouched.
    let m = robust_mem(&[], p);
    m.set(p + 8, FUTEX_WAITERS);
    let (_, wakes) = walk(&m);
    assert_eq!(wakes, [p + 8]);
    assert_eq!(m.get(p + 8), FUTEX_WAITERS);

    // ... but not for a PI pending entry.
    let m = robust_mem(&[], p | 1);
    m.set(p + 8, 0);
    let (_, wakes) = walk(&m);
    assert!(wakes.is_empty());
}

#[test]
fn robust_pi_entries_are_marked_not_woken() {
    let e1 = 0x20_0000;
    let m = robust_mem(&[(e1 | 1, TID | FUTEX_WAITERS)], 0);
    let (r, wakes) = walk(&m);
    assert_eq!(r.entries, 1);
    assert!(wakes.is_empty());
    assert_eq!(m.get(e1 + 8), FUTEX_OWNER_DIED | FUTEX_WAITERS);
}

#[test]
fn robust_faults() {
    let e1 = 0x20_0000;
    let e2 = 0x20_0100;
    let m = robust_mem(&[(e1, TID | FUTEX_WAITERS), (e2, TID)], 0);
    // e1's link points into nowhere: e1 is handled, the bogus entry is visited
    // (its futex word is unreadable), then reading its link stops the walk.
    m.set64(e1, 0x6666_0000);
    let (r, wakes) = walk(&m);
    assert_eq!((r.end, r.entries), (RobustEnd::Fault, 2));
    assert_eq!(wakes, [e1 + 8]);
    assert_eq!(m.get(e2 + 8), TID);

    // A futex word that is absent is faulted in and handled.
    let m = robust_mem(&[(e1, TID | FUTEX_WAITERS), (e2, TID)], 0);
    m.make_absent(e2 + 8);
    let (r, _) = walk(&m);
    assert_eq!(r.end, RobustEnd::Complete);
    assert_eq!(m.get(e2 + 8), FUTEX_OWNER_DIED);

    // A misaligned futex word is skipped, the walk goes on.
    let m = robust_mem(&[(e1, TID), (e2, TID)], 0);
    m.set64(HEAD + 8, 6);
    let (r, wakes) = walk(&m);
    assert_eq!((r.end, r.entries, wakes.len()), (RobustEnd::Complete, 2, 0));

    // A null link ends the walk.
    let m = robust_mem(&[(e1, TID)], 0);
    m.set64(e1, 0);
    let (r, _) = walk(&m);
    assert_eq!((r.end, r.entries), (RobustEnd::Fault, 1));
}

#[test]
fn robust_cycle_is_detected() {
    let es: Vec<u64> = (0..5).map(|i| 0x20_0000 + 0x100 * i).collect();
    let m = robust_mem(
        &es.iter()
            .map(|&e| (e, TID | FUTEX_WAITERS))
            .collect::<Vec<_>>(),
        0,
    );
    // 0 -> 1 -> 2 -> 3 -> 4 -> 2 -> ...
    m.set64(es[4], es[2]);
    let (r, wakes) = walk(&m);
    assert_eq!(r.end, RobustEnd::Cycle);
    assert!(r.entries < 20, "{}", r.entries);
    // Each futex was released (and woken) exactly once.
    let mut w = wakes.clone();
    w.sort();
    w.dedup();
    assert_eq!(w.len(), 5);
    assert_eq!(wakes.len(), 5);
    // A self-loop.
    let m = robust_mem(&[(es[0], TID)], 0);
    m.set64(es[0], es[0]);
    let (r, _) = walk(&m);
    assert_eq!(r.end, RobustEnd::Cycle);
    assert_eq!(m.get(es[0] + 8), FUTEX_OWNER_DIED);
}

#[test]
fn robust_limit() {
    let n = ROBUST_LIST_LIMIT + 100;
    let es: Vec<(u64, u32)> = (0..n as u64).map(|i| (0x100_0000 + 16 * i, TID)).collect();
    let m = robust_mem(&es, 0);
    let (r, _) = walk(&m);
    assert_eq!((r.end, r.entries), (RobustEnd::Limit, ROBUST_LIST_LIMIT));
    assert_eq!(m.get(es[ROBUST_LIST_LIMIT - 1].0 + 8), FUTEX_OWNER_DIED);
    assert_eq!(m.get(es[ROBUST_LIST_LIMIT].0 + 8), TID);
}

#[test]
fn robust_cas_retry_on_concurrent_change() {
    // A memory whose first compare-and-swap fails because "user space" sets the
    // waiters bit at that moment.
    struct Racy {
        inner: FakeMem,
        raced: Mutex<bool>,
    }
    impl UserMem for Racy {
        fn load_u32(&self, a: u64) -> Result<u32, Fault> {
            self.inner.load_u32(a)
        }
        fn load_u64(&self, a: u64) -> Result<u64, Fault> {
            self.inner.load_u64(a)
        }
        fn cmpxchg_u32(&self, a: u64, e: u32, n: u32) -> Result<u32, Fault> {
            let mut raced = self.raced.lock().unwrap();
            if !*raced && a == 0x20_0008 {
                *raced = true;
                let v = self.inner.get(a) | FUTEX_WAITERS;
                self.inner.set(a, v);
            }
            self.inner.cmpxchg_u32(a, e, n)
        }
    }
    let m = Racy {
        inner: robust_mem(&[(0x20_0000, TID)], 0),
        raced: Mutex::new(false),
    };
    let mut wakes = Vec::new();
    let r = exit_robust_list(&m, HEAD, TID, |a| wakes.push(a));
    assert_eq!(r.end, RobustEnd::Complete);
    assert_eq!(wakes, [0x20_0008]);
    assert_eq!(m.inner.get(0x20_0008), FUTEX_OWNER_DIED | FUTEX_WAITERS);
}
